//! A position from the platform's location service: gpsd on Linux (`PENDATA_GPSD`, default
//! `127.0.0.1:2947`). The petugas can always type a position by hand instead.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::model::Localized;

/// A fix: position and horizontal accuracy in metres (when the receiver reports it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
}

/// Why no position was read.
#[derive(Debug, thiserror::Error)]
pub enum GpsError {
    #[error("gpsd address {address}: {detail}")]
    Address { address: String, detail: String },
    #[error("no GPS service at {address}: {detail}")]
    NoService { address: String, detail: String },
    #[error("gpsd: {0}")]
    Io(String),
    #[error("the GPS has no position yet: go outside and try again")]
    NoFix,
    #[error(transparent)]
    Stopped(#[from] super::task::Stopped),
}

impl GpsError {
    /// The reason in both languages (the English keeps the system's detail).
    pub fn text(&self) -> Localized {
        let id = match self {
            GpsError::Address { address, .. } => {
                format!("alamat layanan GPS {address} tidak dikenal")
            }
            GpsError::NoService { .. } => "layanan GPS tidak ada di tablet ini".to_string(),
            GpsError::Io(_) => "layanan GPS tidak menjawab dengan benar".to_string(),
            GpsError::NoFix => {
                "GPS belum mendapat posisi: pergi ke luar ruangan lalu coba lagi".to_string()
            }
            GpsError::Stopped(_) => "pembacaan GPS berhenti sebelum selesai; coba lagi".to_string(),
        };
        Localized::new(id, self.to_string())
    }
}

/// Where gpsd listens.
pub fn gpsd_address() -> String {
    std::env::var("PENDATA_GPSD").unwrap_or_else(|_| "127.0.0.1:2947".to_string())
}

/// Asks gpsd for a 2D or 3D fix, waiting at most `timeout`.
pub fn read_gpsd(address: &str, timeout: Duration) -> Result<Fix, GpsError> {
    let bad_address = |detail: String| GpsError::Address {
        address: address.to_string(),
        detail,
    };
    let addr = address
        .to_socket_addrs()
        .map_err(|e| bad_address(e.to_string()))?
        .next()
        .ok_or_else(|| bad_address("does not resolve".into()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| GpsError::NoService {
            address: address.to_string(),
            detail: e.to_string(),
        })?;
    let io = |e: std::io::Error| GpsError::Io(e.to_string());
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream
        .write_all(b"?WATCH={\"enable\":true,\"json\":true};\n")
        .map_err(io)?;
    let started = Instant::now();
    let mut lines = BufReader::new(stream).lines();
    while started.elapsed() < timeout {
        let Some(line) = lines.next() else { break };
        let line = line.map_err(io)?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg.get("class").and_then(|c| c.as_str()) != Some("TPV") {
            continue;
        }
        let mode = msg
            .get("mode")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let (Some(lat), Some(lon)) = (
            msg.get("lat").and_then(|v| v.as_f64()),
            msg.get("lon").and_then(|v| v.as_f64()),
        ) else {
            continue;
        };
        if mode < 2 {
            continue;
        }
        // eph: horizontal error estimate; else the larger of the lat/lon errors.
        let accuracy_m = msg.get("eph").and_then(|v| v.as_f64()).or_else(|| {
            let x = msg.get("epx").and_then(|v| v.as_f64())?;
            let y = msg.get("epy").and_then(|v| v.as_f64())?;
            Some(x.max(y))
        });
        return Ok(Fix {
            lat,
            lon,
            accuracy_m,
        });
    }
    Err(GpsError::NoFix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn fake_gpsd(lines: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let _ = s.write_all(lines.as_bytes());
        });
        addr
    }

    #[test]
    fn reads_the_first_fix_and_its_accuracy() {
        let addr = fake_gpsd(concat!(
            "{\"class\":\"VERSION\",\"release\":\"3.22\"}\n",
            "{\"class\":\"TPV\",\"mode\":1}\n",
            "{\"class\":\"TPV\",\"mode\":3,\"lat\":-0.5021,\"lon\":117.1536,\"epx\":6.5,\"epy\":8.0}\n",
        ));
        let fix = read_gpsd(&addr, Duration::from_secs(2)).unwrap();
        assert_eq!(
            fix,
            Fix {
                lat: -0.5021,
                lon: 117.1536,
                accuracy_m: Some(8.0)
            }
        );
    }

    #[test]
    fn no_fix_or_no_service_is_a_clear_error() {
        let addr = fake_gpsd("{\"class\":\"TPV\",\"mode\":1}\n");
        let err = read_gpsd(&addr, Duration::from_millis(500))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no position yet"), "{err}");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = read_gpsd(&closed, Duration::from_millis(500))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no GPS service"), "{err}");
    }
}
