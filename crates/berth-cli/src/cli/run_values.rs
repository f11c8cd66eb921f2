//! Values of `run`/`create` flags with a format of their own, parsed and checked as the docker
//! CLI's flag types do it (`opts/weightdevice.go`, `opts/throttledevice.go`, `opts/gpus.go`),
//! with its messages: `--blkio-weight-device`, `--device-{read,write}-{bps,iops}` and `--gpus`.

use serde_json::{json, Map, Value};

/// `DEVICE:WEIGHT` of `--blkio-weight-device` (HostConfig `BlkioWeightDevice` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `DEVICE:RATE` of the throttle flags (HostConfig `BlkioDevice*` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

impl WeightDevice {
    pub fn to_json(&self) -> Value {
        json!({"Path": self.path, "Weight": self.weight})
    }
}

impl ThrottleDevice {
    pub fn to_json(&self) -> Value {
        json!({"Path": self.path, "Rate": self.rate})
    }
}

/// The device path of `PATH:VALUE`, which must be under /dev.
fn device_and_value(val: &str) -> Result<(&str, &str), String> {
    let (k, v) = val.split_once(':').filter(|(k, _)| !k.is_empty()).ok_or_else(|| format!("bad format: {val}"))?;
    if !k.starts_with("/dev/") {
        return Err(format!("bad format for device path: {val}"));
    }
    Ok((k, v))
}

/// `--blkio-weight-device /dev/sda:200`: a weight of 10 to 1000, or 0.
pub fn weight_device(val: &str) -> Result<WeightDevice, String> {
    let (path, v) = device_and_value(val)?;
    let weight: u16 = v.parse().map_err(|_| format!("invalid weight for device: {val}"))?;
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(format!("invalid weight for device: {val}"));
    }
    Ok(WeightDevice { path: path.to_string(), weight })
}

/// `--device-read-bps /dev/sda:1mb`: bytes per second, with docker's size units.
pub fn throttle_bps(val: &str) -> Result<ThrottleDevice, String> {
    let (path, v) = device_and_value(val)?;
    let rate = berth_api::units::parse_ram_bytes(v).ok_or_else(|| {
        format!("invalid rate for device: {val}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")
    })?;
    Ok(ThrottleDevice { path: path.to_string(), rate: rate as u64 })
}

/// `--device-read-iops /dev/sda:1000`: operations per second, a plain number.
pub fn throttle_iops(val: &str) -> Result<ThrottleDevice, String> {
    let (path, v) = device_and_value(val)?;
    let rate: u64 = v.parse().map_err(|_| format!("invalid rate for device: {val}. The correct format is <device-path>:<number>. Number must be a positive integer"))?;
    Ok(ThrottleDevice { path: path.to_string(), rate })
}

/// One `--gpus` request as the HostConfig `DeviceRequests` item the docker CLI sends: `all`, a
/// count, or CSV fields `driver=`, `count=`, `device=`, `capabilities=`, `options=`; without a
/// count or devices the count is 1, and `gpu` is always among the capabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuRequest(pub Value);

fn gpu_count(s: &str) -> Result<i64, String> {
    if s == "all" {
        return Ok(-1);
    }
    s.parse::<i64>().map_err(|_| format!("invalid count ({s}): value must be either \"all\" or an integer: invalid syntax"))
}

/// One CSV record, read as Go's `encoding/csv` reads one (quoted fields may hold commas).
fn csv_record(s: &str) -> Result<Vec<String>, String> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(s.as_bytes());
    let mut rec = csv::StringRecord::new();
    match r.read_record(&mut rec) {
        Ok(true) => Ok(rec.iter().map(str::to_string).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

pub fn gpus(val: &str) -> Result<GpuRequest, String> {
    let mut driver = String::new();
    let mut count: Option<i64> = None;
    let mut devices: Option<Vec<String>> = None;
    let mut caps: Option<Vec<String>> = None;
    let mut options = Map::new();
    let mut seen = std::collections::HashSet::new();
    for field in csv_record(val)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (field.clone(), None),
        };
        if !seen.insert(key.clone()) {
            return Err(format!("gpu request key '{key}' can be specified only once"));
        }
        let Some(value) = value else {
            // A bare word is the count.
            seen.insert("count".to_string());
            count = Some(gpu_count(&key)?);
            continue;
        };
        match key.as_str() {
            "driver" => driver = value,
            "count" => count = Some(gpu_count(&value)?),
            "device" => devices = Some(value.split(',').map(str::to_string).collect()),
            "capabilities" => caps = Some(value.split(',').map(str::to_string).chain(["gpu".to_string()]).collect()),
            "options" => {
                for kv in csv_record(&value).map_err(|e| format!("failed to read gpu options: {e}"))? {
                    let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                    options.insert(k.to_string(), json!(v));
                }
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let count = count.unwrap_or(if devices.is_none() { 1 } else { 0 });
    Ok(GpuRequest(json!({
        "Driver": driver,
        "Count": count,
        "DeviceIDs": devices,
        "Capabilities": [caps.unwrap_or_else(|| vec!["gpu".to_string()])],
        "Options": options,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_values_parse_and_fail_as_dockers() {
        assert_eq!(weight_device("/dev/sda:200"), Ok(WeightDevice { path: "/dev/sda".into(), weight: 200 }));
        assert_eq!(weight_device("/dev/sda:0").unwrap().weight, 0);
        assert_eq!(weight_device("/dev/sda:5"), Err("invalid weight for device: /dev/sda:5".into()));
        assert_eq!(weight_device("/dev/sda:x"), Err("invalid weight for device: /dev/sda:x".into()));
        assert_eq!(weight_device("sda:200"), Err("bad format for device path: sda:200".into()));
        assert_eq!(weight_device("/dev/sda"), Err("bad format: /dev/sda".into()));
        assert_eq!(throttle_bps("/dev/sda:1mb").unwrap().rate, 1 << 20);
        assert_eq!(throttle_bps("/dev/sda:512").unwrap().rate, 512);
        assert!(throttle_bps("/dev/sda:fast").unwrap_err().starts_with("invalid rate for device: /dev/sda:fast. The correct format is <device-path>:<number>[<unit>]"));
        assert_eq!(throttle_iops("/dev/sda:1000").unwrap().rate, 1000);
        assert!(throttle_iops("/dev/sda:1k").unwrap_err().starts_with("invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. "));
    }

    #[test]
    fn gpu_requests_are_the_docker_clis() {
        assert_eq!(gpus("all").unwrap().0, json!({"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}}));
        assert_eq!(gpus("2").unwrap().0["Count"], 2);
        assert_eq!(
            gpus("count=2,capabilities=compute,driver=nvidia").unwrap().0,
            json!({"Driver": "nvidia", "Count": 2, "DeviceIDs": null, "Capabilities": [["compute", "gpu"]], "Options": {}})
        );
        assert_eq!(gpus("\"device=1,2\",driver=nvidia").unwrap().0, json!({"Driver": "nvidia", "Count": 0, "DeviceIDs": ["1", "2"], "Capabilities": [["gpu"]], "Options": {}}));
        assert_eq!(gpus("\"options=a=b,c\"").unwrap().0["Options"], json!({"a": "b", "c": ""}));
        assert_eq!(gpus("driver=x").unwrap().0["Count"], 1);
        assert_eq!(gpus("all,count=2"), Err("gpu request key 'count' can be specified only once".to_string()));
        assert_eq!(gpus("bogus=1"), Err("unexpected key 'bogus' in 'bogus=1'".to_string()));
        assert!(gpus("many").unwrap_err().starts_with("invalid count (many): value must be either \"all\" or an integer"));
    }
}
