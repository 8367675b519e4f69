//! Hostile input: mutated and random request bodies over REST, random protobuf bytes
//! decoded as `TensorProto`s, and huge declared shapes. Every answer is an error JSON
//! with a 4xx code or a success, and the server keeps serving.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use prost::Message;
use tf_serving::proto::tensorflow::TensorProto;
use tf_serving::{ModelConfig, Server, ServerOptions};

/// xorshift64*: deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(6) {
        let pos = rng.below(b.len() + 1);
        match rng.below(4) {
            0 if !b.is_empty() => {
                b.remove(pos.min(b.len() - 1));
            }
            1 => {
                let tokens: [&[u8]; 12] = [
                    b"[",
                    b"]",
                    b"{",
                    b"}",
                    b"\"",
                    b",",
                    b":",
                    b"NaN",
                    b"-Infinity",
                    b"1e999",
                    b"{\"b64\":\"!!\"}",
                    b"null",
                ];
                let t = tokens[rng.below(tokens.len())];
                b.splice(pos..pos, t.iter().copied());
            }
            2 if !b.is_empty() => {
                let i = pos.min(b.len() - 1);
                b[i] = (rng.next() & 0xff) as u8;
            }
            _ => {
                let i = pos.min(b.len());
                let dup = b[i..]
                    .iter()
                    .take(rng.below(32))
                    .copied()
                    .collect::<Vec<_>>();
                b.splice(i..i, dup);
            }
        }
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_rest_bodies_never_crash_or_wedge_the_server() {
    let base = temp_dir("hostile");
    add_version(&base, 1, "mlp.keras", "model.keras");
    let opts = ServerOptions {
        host: "127.0.0.1".parse().unwrap(),
        grpc_port: None,
        rest_port: Some(0),
        models: vec![ModelConfig::new("mlp", base.to_str().unwrap())],
        file_system_poll: None,
        ..ServerOptions::default()
    };
    let server = Server::start(opts).await.unwrap();
    let a = server.rest_addr.unwrap();
    let row: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
    let seeds: Vec<Vec<u8>> = vec![
        format!("{{\"instances\": [{row:?}, {row:?}]}}").into_bytes(),
        format!(
            "{{\"signature_name\": \"serving_default\", \"inputs\": {{\"inputs\": [{row:?}]}}}}"
        )
        .into_bytes(),
        br#"{"examples": [{"x": [1.0, 2.0], "s": {"b64": "aGk="}}], "context": {"c": "z"}}"#
            .to_vec(),
    ];
    let paths = [
        "/v1/models/mlp:predict",
        "/v1/models/mlp/versions/1:predict",
        "/v1/models/mlp:classify",
        "/v1/models/mlp:regress",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut counts = [0usize; 6];
    for i in 0..400 {
        let body = mutate(&mut rng, &seeds[i % seeds.len()]);
        let path = paths[rng.below(paths.len())];
        let r = http_async(a, "POST", path.to_string(), body).await;
        assert!(
            r.status == 200 || (400..500).contains(&r.status),
            "{path}: {} {}",
            r.status,
            r.body
        );
        if r.status != 200 {
            assert!(r.json()["error"].is_string(), "{}", r.body);
        }
        counts[(r.status / 100) as usize] += 1;
    }
    assert!(
        counts[4] > 100,
        "mutations should mostly be rejected: {counts:?}"
    );
    // Deep nesting and huge numbers.
    let deep = format!("{{\"instances\": {}1{}}}", "[".repeat(100), "]".repeat(100));
    let r = http_async(
        a,
        "POST",
        "/v1/models/mlp:predict".into(),
        deep.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    // Still healthy.
    let r = http_async(a, "POST", "/v1/models/mlp:predict".into(), seeds[0].clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.shutdown().await;
}

#[test]
fn random_tensor_protos_are_errors_not_panics() {
    let mut rng = Rng(42);
    let mut ok = 0;
    for _ in 0..5000 {
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        if let Ok(p) = TensorProto::decode(bytes.as_slice())
            && tf_serving::proto::tensor_from_proto(&p).is_ok()
        {
            ok += 1;
        }
    }
    assert!(ok < 5000);
    // A tiny message with one value and a huge shape is refused, not allocated.
    let mut p = TensorProto {
        dtype: 1,
        float_val: vec![1.0],
        ..Default::default()
    };
    p.tensor_shape = Some(tf_serving::proto::shape_proto(&[1 << 20, 1 << 20]));
    let e = tf_serving::proto::tensor_from_proto(&p).unwrap_err();
    assert!(e.message.contains("too large"), "{}", e.message);
    p.tensor_shape = Some(tf_serving::proto::shape_proto(&[usize::MAX / 2, 4]));
    assert!(tf_serving::proto::tensor_from_proto(&p).is_err());
}
