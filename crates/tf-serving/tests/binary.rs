//! The `tf-serving` binary: tensorflow_model_server's flags, a config file, batching and
//! monitoring flags, and SIGTERM draining an in-flight request before exiting.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn flags_config_file_and_sigterm_drain() {
    let base = temp_dir("bin");
    add_version(&base, 4, "mlp.keras", "model.keras");
    let cfg = base.join("models.config");
    std::fs::write(
        &cfg,
        format!(
            "model_config_list {{ config {{ name: 'digits' base_path: '{}' }} }}",
            base.display()
        ),
    )
    .unwrap();
    let batching = base.join("batching.config");
    std::fs::write(&batching, "max_batch_size { value: 8 } batch_timeout_micros { value: 100 } num_batch_threads { value: 1 }").unwrap();
    let (rp, gp) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tf-serving"))
        .args([
            format!("--port={gp}"),
            format!("--rest_api_port={rp}"),
            format!("--model_config_file={}", cfg.display()),
            "--model_config_file_poll_wait_seconds=1".into(),
            "--file_system_poll_wait_seconds=1".into(),
            "--enable_batching".into(),
            format!("--batching_parameters_file={}", batching.display()),
            "--rest_api_timeout_in_ms=10000".into(),
            "--monitoring=true".into(),
            "--host=127.0.0.1".into(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{rp}").parse().unwrap();
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = http(addr, "GET", "/v1/models/digits", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["model_version_status"][0]["version"], "4");
    let body = format!("{{\"instances\": [{:?}]}}", vec![0.5f32; 64]);
    let r = http(addr, "POST", "/v1/models/digits:predict", body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http(addr, "GET", "/monitoring/prometheus/metrics", b"");
    assert!(
        r.body.contains("batching_session:batch_count 1"),
        "{}",
        r.body
    );

    // A request in flight (half its body sent) when SIGTERM arrives still gets its answer.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    s.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(second).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    // Then the server exits cleanly.
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "exit status {st}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_flags_fail_fast() {
    let out = Command::new(env!("CARGO_BIN_EXE_tf-serving"))
        .args(["--port=0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--model_base_path or --model_config_file")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tf-serving"))
        .args([
            "--model_config_file=/nonexistent/models.config",
            "--port=0",
            "--rest_api_port=0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read model config file"));
}
