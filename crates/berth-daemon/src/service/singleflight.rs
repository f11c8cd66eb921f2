//! One computation shared by every caller that asks while it runs (Go's `singleflight`): three
//! `docker system df` at once walk the data root once, not three times.

use super::ServiceError;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::future::Future;
use std::sync::{Arc, Mutex};

type Flight<T> = Shared<BoxFuture<'static, Result<T, Arc<ServiceError>>>>;

/// A slot for the computation in flight, if any.
pub struct SingleFlight<T: Clone> {
    slot: Arc<Mutex<Option<Flight<T>>>>,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight { slot: Arc::new(Mutex::new(None)) }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Joins the computation in flight, or starts `make()` as a new one. The computation runs in
    /// its own task: callers that stop waiting do not cancel it for the others, and the slot is
    /// emptied as soon as it ends (results are never cached beyond that).
    pub async fn run<F>(&self, make: impl FnOnce() -> F) -> Result<T, ServiceError>
    where
        F: Future<Output = Result<T, ServiceError>> + Send + 'static,
    {
        let flight = {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            match &*slot {
                Some(f) => f.clone(),
                None => {
                    let work = make();
                    let done = self.slot.clone();
                    // The slot is locked until the new flight is in it, so this cannot empty it first.
                    let task = tokio::spawn(async move {
                        let r = work.await.map_err(Arc::new);
                        *done.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        r
                    });
                    let f = async move { task.await.unwrap_or_else(|e| Err(Arc::new(ServiceError::from(e)))) }.boxed().shared();
                    *slot = Some(f.clone());
                    f
                }
            }
        };
        flight.await.map_err(ServiceError::Shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_computation_and_later_ones_start_another() {
        let sf = Arc::new(SingleFlight::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let call = |sf: Arc<SingleFlight<usize>>, runs: Arc<AtomicUsize>| async move {
            sf.run(|| async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(n)
            })
            .await
        };
        let got = futures_util::future::join_all((0..5).map(|_| call(sf.clone(), runs.clone()))).await;
        assert!(got.iter().all(|r| *r.as_ref().unwrap() == 1), "{got:?}");
        assert_eq!(call(sf.clone(), runs.clone()).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn errors_reach_every_caller_with_their_kind() {
        use berth_types::error::HasKind;
        let sf = SingleFlight::<usize>::default();
        let e = sf.run(|| async { Err(ServiceError::NotFound("gone".into())) }).await.unwrap_err();
        assert_eq!((e.kind(), e.to_string()), (berth_types::ErrorKind::NotFound, "gone".to_string()));
    }
}
