//! Pulls shared by the clients that ask for the same image at once, and cancelled when the last of
//! them goes (dockerd's transfer manager does the same with its layer downloads): two `docker pull
//! x` download `x` once and both see its progress; a pull whose every client disconnected stops,
//! and the layer it was writing is deleted (its ingest file goes with the dropped writer).
//!
//! Clients share a pull only with the same reference, platform and credentials, so no client gets
//! an image through another's authorisation.

use super::ServiceError;
use berth_api::progress::JsonMessage;
use berth_distribution::Credentials;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// What makes two pulls the same.
#[derive(Clone, PartialEq)]
pub(super) struct PullKey {
    pub reference: String,
    pub platform: Option<String>,
    pub creds: Option<Credentials>,
}

type Outcome = Option<Result<(), Arc<ServiceError>>>;

/// One pull in flight and the clients watching it.
pub(super) struct Flight {
    state: Mutex<Watchers>,
    done: watch::Sender<Outcome>,
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

struct Watchers {
    /// Clients' progress channels.
    senders: Vec<mpsc::UnboundedSender<JsonMessage>>,
    /// The latest message per layer (and the id-less ones), replayed to a client that joins late.
    latest: Vec<JsonMessage>,
    /// Clients waiting for the outcome.
    waiting: usize,
}

impl Flight {
    /// Sends a progress message to every client, and keeps it for late joiners.
    pub fn broadcast(&self, m: JsonMessage) {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match w.latest.iter_mut().find(|x| x.id.is_some() && x.id == m.id) {
            Some(slot) => *slot = m.clone(),
            None => w.latest.push(m.clone()),
        }
        w.senders.retain(|tx| tx.send(m.clone()).is_ok());
    }

    /// Records the outcome: every waiting client gets it.
    pub fn finish(&self, r: Result<(), ServiceError>) {
        self.done.send_replace(Some(r.map_err(Arc::new)));
    }
}

/// The pulls in flight.
#[derive(Default)]
pub(super) struct Pulls {
    flights: Mutex<Vec<(PullKey, Arc<Flight>)>>,
}

/// A client's place in a pull: dropping it (the client went away) leaves the pull, and cancels it
/// when no one else waits for it.
pub(super) struct Watch {
    pulls: Arc<Pulls>,
    flight: Arc<Flight>,
    done: watch::Receiver<Outcome>,
}

/// What [`Pulls::join`] found.
pub(super) enum Joined {
    /// A new pull: run it (reporting through the flight, then [`Flight::finish`]) until the
    /// receiver fires, which means every client went away.
    Started(Arc<Flight>, oneshot::Receiver<()>, Watch),
    /// The same pull was already under way.
    Joined(Watch),
}

impl Pulls {
    /// Joins the pull of `key` in flight, or registers a new one; `tx` gets its progress.
    pub fn join(self: &Arc<Self>, key: PullKey, tx: mpsc::UnboundedSender<JsonMessage>) -> Joined {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, f)) = flights.iter().find(|(k, _)| *k == key) {
            let f = f.clone();
            {
                let mut w = f.state.lock().unwrap_or_else(|p| p.into_inner());
                for m in &w.latest {
                    let _ = tx.send(m.clone());
                }
                w.senders.push(tx);
                w.waiting += 1;
            }
            let done = f.done.subscribe();
            return Joined::Joined(Watch { pulls: self.clone(), flight: f, done });
        }
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let f = Arc::new(Flight {
            state: Mutex::new(Watchers { senders: vec![tx], latest: Vec::new(), waiting: 1 }),
            done: watch::channel(None).0,
            cancel: Mutex::new(Some(cancel_tx)),
        });
        flights.push((key, f.clone()));
        let done = f.done.subscribe();
        Joined::Started(f.clone(), cancel_rx, Watch { pulls: self.clone(), flight: f, done })
    }

    /// Forgets a finished (or abandoned) flight, so the next pull of its image starts afresh.
    pub fn forget(&self, flight: &Arc<Flight>) {
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).retain(|(_, f)| !Arc::ptr_eq(f, flight));
    }

    /// Clients waiting for a pull now (for tests and `info`-style introspection).
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Watch {
    /// Waits for the pull's outcome.
    pub async fn outcome(mut self) -> Result<(), ServiceError> {
        let r = self.done.wait_for(|o| o.is_some()).await.map(|o| o.clone());
        match r {
            Ok(Some(Ok(()))) => Ok(()),
            Ok(Some(Err(e))) => Err(ServiceError::Shared(e)),
            _ => Err(ServiceError::Internal("the pull ended without an outcome".into())),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Under the flights lock (taken before a flight's, as `join` does), so no client can join
        // between the last one leaving and the pull being forgotten.
        let mut flights = self.pulls.flights.lock().unwrap_or_else(|p| p.into_inner());
        let last = {
            let mut w = self.flight.state.lock().unwrap_or_else(|p| p.into_inner());
            w.waiting -= 1;
            w.waiting == 0
        };
        if last && self.flight.done.borrow().is_none() {
            // No one waits for it any more: stop it, and let a later pull start a new one.
            flights.retain(|(_, f)| !Arc::ptr_eq(f, &self.flight));
            drop(flights);
            if let Some(c) = self.flight.cancel.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = c.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(r: &str) -> PullKey {
        PullKey { reference: r.into(), platform: None, creds: None }
    }

    #[tokio::test]
    async fn a_second_client_joins_and_the_last_to_leave_cancels() {
        let pulls = Arc::new(Pulls::default());
        let (tx1, mut rx1) = mpsc::unbounded_channel();
        let Joined::Started(flight, mut cancel, w1) = pulls.join(key("a"), tx1) else { panic!("not started") };
        flight.broadcast(JsonMessage::status("Pulling from a"));
        let (tx2, mut rx2) = mpsc::unbounded_channel();
        let Joined::Joined(w2) = pulls.join(key("a"), tx2) else { panic!("not joined") };
        // The late joiner sees what was said so far, then both see what follows.
        assert_eq!(rx2.recv().await.unwrap().status.as_deref(), Some("Pulling from a"));
        flight.broadcast(JsonMessage::status("more"));
        assert_eq!(rx1.recv().await.unwrap().status.as_deref(), Some("Pulling from a"));
        assert_eq!(rx1.recv().await.unwrap().status.as_deref(), Some("more"));
        assert_eq!(rx2.recv().await.unwrap().status.as_deref(), Some("more"));
        // Another image is another pull.
        let (tx3, _rx3) = mpsc::unbounded_channel();
        let other = pulls.join(key("b"), tx3);
        assert!(matches!(other, Joined::Started(..)));
        drop(w1);
        assert!(cancel.try_recv().is_err(), "cancelled while a client still waits");
        drop(w2);
        assert!(cancel.try_recv().is_ok(), "not cancelled when the last client left");
        assert_eq!(pulls.in_flight(), 1, "the abandoned pull is still joinable, or the other one is not");
        let (tx4, _rx4) = mpsc::unbounded_channel();
        assert!(matches!(pulls.join(key("a"), tx4), Joined::Started(..)), "a later pull joined the cancelled one");
        drop(other);
        assert_eq!(pulls.in_flight(), 0);
    }

    #[tokio::test]
    async fn every_client_gets_the_outcome() {
        let pulls = Arc::new(Pulls::default());
        let (tx1, _rx1) = mpsc::unbounded_channel();
        let Joined::Started(flight, _cancel, w1) = pulls.join(key("a"), tx1) else { panic!() };
        let (tx2, _rx2) = mpsc::unbounded_channel();
        let Joined::Joined(w2) = pulls.join(key("a"), tx2) else { panic!() };
        flight.finish(Err(ServiceError::NotFound("manifest unknown".into())));
        pulls.forget(&flight);
        for w in [w1, w2] {
            let e = w.outcome().await.unwrap_err();
            assert_eq!(e.to_string(), "manifest unknown");
        }
        assert_eq!(pulls.in_flight(), 0);
    }
}
