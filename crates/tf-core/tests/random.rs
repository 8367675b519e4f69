//! Random ops: TensorFlow's seeding model (global seed, op seed, per-kernel sequences,
//! reset by set_random_seed), exact agreement with TensorFlow 2.21's numbers,
//! independence from the thread count, distribution statistics, tracing behaviour and
//! errors.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use tf_core::context::{Executor, push_executor};
use tf_core::op::{OpCall, execute_eager};
use tf_core::variable::AssignKind;
use tf_core::{DType, Result, Tensor, Variable, ops};

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().expect("host tensor")
}

fn uniform(n: usize, seed: Option<u64>) -> Vec<f64> {
    f64s(&ops::random_uniform(&[n], 0.0, 1.0, DType::F32, seed).expect("random_uniform"))
}

fn assert_all_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, TensorFlow gives {w} ({got:?})"
        );
    }
}

// Reference values printed by TensorFlow 2.21 (CPU) for the same calls.
#[test]
fn matches_tensorflow_numbers() {
    ops::set_random_seed(1234);
    assert_eq!(
        uniform(6, None),
        [
            0.5380393266677856,
            0.3646186590194702,
            0.5816301107406616,
            0.2438284158706665,
            0.4303356409072876,
            0.9061912298202515
        ]
    );
    assert_eq!(
        uniform(6, None),
        [
            0.32536470890045166,
            0.13870060443878174,
            0.6480493545532227,
            0.30401837825775146,
            0.33676326274871826,
            0.1301804780960083
        ]
    );
    ops::set_random_seed(1234);
    assert_eq!(
        uniform(6, Some(1)),
        [
            0.16898059844970703,
            0.9725481271743774,
            0.9003628492355347,
            0.16582810878753662,
            0.14545810222625732,
            0.48029935359954834
        ]
    );
    // Same kernel again: the next values of its sequence.
    assert_eq!(
        uniform(6, Some(1)),
        [
            0.33758223056793213,
            0.24648451805114746,
            0.832572340965271,
            0.6153708696365356,
            0.3666360378265381,
            0.824764609336853
        ]
    );
    let d = ops::random_uniform(&[5], 0.0, 1.0, DType::F64, Some(1)).unwrap();
    assert_eq!(
        f64s(&d),
        [
            0.3518450967456179,
            0.20290285007251074,
            0.163665194959006,
            0.1996474526680847,
            0.2268326694266778
        ]
    );
    let n = ops::random_normal(&[6], 0.0, 1.0, DType::F32, Some(1)).unwrap();
    assert_all_close(
        &f64s(&n),
        &[
            -0.32364845275878906,
            1.8577390909194946,
            0.39556974172592163,
            0.2311697006225586,
            0.24243995547294617,
            -1.9485782384872437,
        ],
        1e-6,
        "normal f32",
    );
    let t = ops::truncated_normal(&[6], 0.0, 1.0, DType::F32, Some(1)).unwrap();
    assert_all_close(
        &f64s(&t),
        &[
            -0.32364845275878906,
            1.8577390909194946,
            0.39556974172592163,
            0.2311697006225586,
            -0.5653132200241089,
            0.4953683316707611,
        ],
        1e-6,
        "truncated f32",
    );
    let i = ops::random_uniform(&[6], -5.0, 100.0, DType::I32, Some(1)).unwrap();
    assert_eq!(i.to_vec::<i32>().unwrap(), [6, 60, 73, 37, 93, 79]);
    let i = ops::random_uniform_int(&[6], -5, 100, DType::I64, Some(1)).unwrap();
    assert_eq!(i.to_vec::<i64>().unwrap(), [56, 10, 72, 22, 70, 52]);

    ops::set_random_seed(7);
    let h = ops::random_uniform(&[6], 0.0, 1.0, DType::F16, Some(3)).unwrap();
    assert_eq!(
        f64s(&h),
        [
            0.7119140625,
            0.064453125,
            0.7265625,
            0.515625,
            0.701171875,
            0.9609375
        ]
    );
    let b = ops::random_uniform(&[6], 0.0, 1.0, DType::BF16, Some(3)).unwrap();
    assert_eq!(
        f64s(&b),
        [0.6953125, 0.515625, 0.8125, 0.125, 0.609375, 0.6875]
    );
    let n = ops::random_normal(&[5], 1.0, 2.0, DType::F64, Some(3)).unwrap();
    assert_all_close(
        &f64s(&n),
        &[
            1.568279586969425,
            -2.494538157448697,
            1.0449507827952085,
            1.5043566774703028,
            -1.7923782867375704,
        ],
        1e-12,
        "normal f64",
    );
    let t = ops::truncated_normal(&[5], 0.0, 1.0, DType::F64, Some(3)).unwrap();
    assert_all_close(
        &f64s(&t),
        &[
            0.2841397934847126,
            -1.7472690787243486,
            -0.8324516698354941,
            1.1555486766159675,
            -0.7045877862978654,
        ],
        1e-12,
        "truncated f64",
    );
    let h = ops::random_normal(&[6], 0.0, 1.0, DType::F16, Some(3)).unwrap();
    assert_all_close(
        &f64s(&h),
        &[
            0.94482421875,
            -0.966796875,
            0.80517578125,
            1.3037109375,
            0.21484375,
            -0.73486328125,
        ],
        1e-3,
        "normal f16",
    );
    let r = ops::random_uniform(&[6], -2.0, 3.0, DType::F32, Some(3)).unwrap();
    assert_eq!(
        f64s(&r),
        [
            0.005439281463623047,
            -0.11580538749694824,
            -0.4535360336303711,
            -1.559621810913086,
            1.7302863597869873,
            0.27353572845458984
        ]
    );
    // Large outputs are filled in parallel chunks: positions across chunk boundaries.
    let picks = [0usize, 1, 16383, 16384, 40000, 50000];
    let big = uniform(50001, Some(9));
    assert_eq!(
        picks.map(|i| big[i]),
        [
            0.5363448858261108,
            0.4732365608215332,
            0.4494985342025757,
            0.5371836423873901,
            0.3370969295501709,
            0.6707577705383301
        ]
    );
    let bigt = f64s(&ops::truncated_normal(&[50001], 0.0, 1.0, DType::F32, Some(9)).unwrap());
    assert_all_close(
        &picks.map(|i| bigt[i]),
        &[
            0.1868204027414322,
            -1.1004788875579834,
            -0.6531493663787842,
            0.898389995098114,
            0.41350433230400085,
            1.5066943168640137,
        ],
        1e-6,
        "truncated f32, large",
    );
}

#[test]
fn same_seeds_give_the_same_sequence_across_runs() {
    let program = |global: u64| {
        ops::set_random_seed(global);
        (0..3)
            .map(|_| uniform(5, Some(42)))
            .chain((0..3).map(|_| uniform(5, None)))
            .chain([f64s(
                &ops::random_normal(&[4], 1.0, 2.0, DType::F64, Some(42)).unwrap(),
            )])
            .collect::<Vec<_>>()
    };
    let a = program(9);
    let b = program(9);
    assert_eq!(a, b, "same program, same numbers");
    // Within a run, repeating an op gives a sequence, not repeats.
    assert_ne!(a[0], a[1]);
    assert_ne!(a[1], a[2]);
    assert_ne!(a[3], a[4]);
    // Another global seed changes everything.
    let c = program(10);
    assert!(a.iter().zip(&c).all(|(x, y)| x != y));
}

#[test]
fn op_seed_rules() {
    // Different op seeds, different numbers.
    ops::set_random_seed(1);
    assert_ne!(uniform(8, Some(1)), uniform(8, Some(2)));
    // Op seed without a global seed: TensorFlow's default global seed 87654321,
    // reproducible after clearing the context.
    ops::clear_random_seed();
    let a = uniform(8, Some(5));
    ops::clear_random_seed();
    assert_eq!(uniform(8, Some(5)), a);
    ops::set_random_seed(87_654_321);
    assert_eq!(
        uniform(8, Some(5)),
        a,
        "op seed alone uses global seed 87654321"
    );
    // Neither set: nondeterministic.
    ops::clear_random_seed();
    assert_eq!(ops::global_random_seed(), None);
    assert_ne!(uniform(8, None), uniform(8, None));
    let x = uniform(8, None);
    ops::clear_random_seed();
    assert_ne!(uniform(8, None), x);
    // Kernels are keyed by dtype too: float64 has its own sequence.
    ops::set_random_seed(3);
    let d1 = f64s(&ops::random_uniform(&[4], 0.0, 1.0, DType::F64, Some(1)).unwrap());
    let _ = uniform(4, Some(1));
    ops::set_random_seed(3);
    let d2 = f64s(&ops::random_uniform(&[4], 0.0, 1.0, DType::F64, Some(1)).unwrap());
    assert_eq!(d1, d2);
}

#[test]
fn seed_context_is_per_thread() {
    ops::set_random_seed(77);
    let here = uniform(6, None);
    let there = std::thread::spawn(|| {
        ops::set_random_seed(77);
        uniform(6, None)
    })
    .join()
    .unwrap();
    assert_eq!(here, there);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let n = 200_003;
    let draw = || {
        ops::set_random_seed(123);
        let dts = [DType::F32, DType::F64, DType::F16, DType::BF16];
        let mut v: Vec<Vec<f64>> = Vec::new();
        for dt in dts {
            v.push(f64s(
                &ops::random_uniform(&[n], -1.0, 1.0, dt, Some(4)).unwrap(),
            ));
            v.push(f64s(&ops::random_normal(&[n], 0.0, 1.0, dt, None).unwrap()));
            v.push(f64s(
                &ops::truncated_normal(&[n], 0.0, 1.0, dt, Some(4)).unwrap(),
            ));
        }
        v.push(f64s(
            &ops::random_uniform_int(&[n], -9, 9, DType::I32, Some(4)).unwrap(),
        ));
        v.push(f64s(
            &ops::random_uniform_int(&[n], -9, 9, DType::I64, Some(4)).unwrap(),
        ));
        let x = Tensor::ones([n], DType::F32).unwrap();
        v.push(f64s(&ops::dropout(&x, 0.3, None, Some(4)).unwrap()));
        v
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(draw);
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(draw);
    let global = draw();
    assert!(one == many, "1 thread vs 4 threads");
    assert!(one == global, "1 thread vs the global pool");
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

#[test]
fn distributions_have_the_right_statistics() {
    ops::set_random_seed(2024);
    let n = 100_000;
    for dt in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let u = f64s(&ops::random_uniform(&[n], -2.0, 3.0, dt, None).unwrap());
        assert!(
            u.iter()
                .all(|&v| (-2.0..3.0).contains(&v) || (dt.size_of() == 2 && v == 3.0)),
            "{dt}"
        );
        let (m, s) = mean_std(&u);
        assert!(
            (m - 0.5).abs() < 0.03 && (s - 5.0 / 12f64.sqrt()).abs() < 0.03,
            "{dt} uniform: {m} {s}"
        );

        let z = f64s(&ops::random_normal(&[n], 3.0, 2.0, dt, None).unwrap());
        let (m, s) = mean_std(&z);
        assert!(
            (m - 3.0).abs() < 0.03 && (s - 2.0).abs() < 0.03,
            "{dt} normal: {m} {s}"
        );

        let t = f64s(&ops::truncated_normal(&[n], -1.0, 0.5, dt, None).unwrap());
        let slack = if dt.size_of() == 2 { 0.02 } else { 0.0 };
        assert!(
            t.iter().all(|&v| (v + 1.0).abs() <= 1.0 + slack),
            "{dt}: beyond 2 sigma"
        );
        let (m, s) = mean_std(&t);
        // Standard normal truncated to (-2, 2): std 0.8796.
        assert!(
            (m + 1.0).abs() < 0.02 && (s - 0.5 * 0.8796).abs() < 0.02,
            "{dt} truncated: {m} {s}"
        );
    }
    for dt in [DType::I32, DType::I64] {
        let v = f64s(&ops::random_uniform(&[n], -3.0, 7.0, dt, None).unwrap());
        let mut counts = [0usize; 10];
        for &x in &v {
            assert!((-3.0..7.0).contains(&x) && x.fract() == 0.0);
            counts[(x + 3.0) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (c as f64 - 1e4).abs() < 600.0),
            "{dt}: {counts:?}"
        );
    }
    // Extreme int64 range: no overflow.
    let v = ops::random_uniform_int(&[1000], i64::MIN, i64::MAX, DType::I64, Some(1)).unwrap();
    assert!(v.to_vec::<i64>().unwrap().iter().any(|&x| x < 0));
}

#[test]
fn shapes_dtypes_and_empty_outputs() {
    let t = ops::random_normal(&[2, 0, 3], 0.0, 1.0, DType::F16, Some(1)).unwrap();
    assert_eq!((t.dims(), t.dtype()), (&[2, 0, 3][..], DType::F16));
    let s = ops::truncated_normal(&[], 0.0, 1.0, DType::F64, Some(1)).unwrap();
    assert_eq!(s.rank(), 0);
    // An empty int range is fine when nothing is drawn (as in TensorFlow).
    let e = ops::random_uniform_int(&[0, 4], 5, 5, DType::I32, None).unwrap();
    assert_eq!(e.dims(), &[0, 4]);
    for op in [
        &ops::RANDOM_UNIFORM,
        &ops::RANDOM_STANDARD_NORMAL,
        &ops::TRUNCATED_NORMAL,
        &ops::RANDOM_UNIFORM_INT,
    ] {
        assert!(op.stateful, "{} must be stateful", op.name);
    }
}

#[test]
fn errors_name_the_op() {
    let msg = ops::random_uniform(&[3], 5.0, 5.0, DType::I32, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("RandomUniformInt") && msg.contains("Need minval < maxval, got 5 >= 5"),
        "{msg}"
    );
    let msg = ops::random_uniform(&[3], 0.5, 5.0, DType::I64, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("minval 0.5"), "{msg}");
    let msg = ops::random_uniform_int(&[3], 0, 1 << 40, DType::I32, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("maxval") && msg.contains("int32"), "{msg}");
    let msg = ops::random_normal(&[3], 0.0, 1.0, DType::I32, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("RandomStandardNormal") && msg.contains("int32"),
        "{msg}"
    );
    let msg = ops::truncated_normal(&[3], 0.0, 1.0, DType::Bool, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("TruncatedNormal") && msg.contains("bool"),
        "{msg}"
    );
    let msg = ops::random_uniform(&[3], 0.0, 1.0, DType::U8, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("RandomUniform") && msg.contains("uint8"),
        "{msg}"
    );
    let msg = ops::random_uniform(&[usize::MAX / 2, 4], 0.0, 1.0, DType::F32, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("RandomUniform") && msg.contains("too many"),
        "{msg}"
    );
}

/// A stand-in for a tracer: records calls (returning symbolic outputs) so they can be
/// "run" later with `execute_eager`, as a traced function's graph would be.
#[derive(Default)]
struct Tracer {
    calls: RefCell<Vec<(&'static tf_core::op::OpDef, tf_core::op::Attrs)>>,
}

impl Executor for Tracer {
    fn execute(&self, call: &OpCall<'_>) -> Result<Vec<Tensor>> {
        self.calls.borrow_mut().push((call.op, call.attrs.clone()));
        let spec = (call.op.infer)(&tf_core::op::InferContext {
            op: call.op,
            inputs: call.inputs,
            attrs: call.attrs,
        })?;
        Ok(spec
            .iter()
            .map(|s| Tensor::symbolic(s.dtype, s.shape.clone(), std::sync::Arc::new(())))
            .collect())
    }
    fn read_variable(&self, _: &Variable) -> Result<Tensor> {
        unreachable!()
    }
    fn assign_variable(&self, _: &Variable, _: AssignKind, _: &Tensor) -> Result<()> {
        unreachable!()
    }
}

#[test]
fn traced_random_ops_give_new_numbers_per_call() {
    let trace = || {
        let tracer = Rc::new(Tracer::default());
        {
            let _g = push_executor(tracer.clone());
            let t = ops::random_uniform(&[4], 0.0, 1.0, DType::F32, None).unwrap();
            assert!(t.is_symbolic());
            ops::dropout(&Tensor::ones([4], DType::F32).unwrap(), 0.5, None, Some(3)).unwrap();
        }
        tracer.calls.borrow().clone()
    };
    let run = |calls: &[(&'static tf_core::op::OpDef, tf_core::op::Attrs)]| -> Vec<f64> {
        calls
            .iter()
            .flat_map(|(op, attrs)| {
                f64s(
                    &execute_eager(&OpCall::new(
                        op,
                        &[Tensor::ones([4], DType::F32).unwrap()]
                            [..if op.name == "Dropout" { 1 } else { 0 }],
                        attrs,
                    ))
                    .unwrap()[0],
                )
            })
            .collect()
    };
    ops::set_random_seed(8);
    let graph = trace();
    assert_eq!(graph.len(), 2);
    let first = run(&graph);
    let second = run(&graph);
    assert_ne!(
        first, second,
        "each call of the traced function draws new numbers"
    );
    // Same program again (seed, trace, call twice): same numbers.
    ops::set_random_seed(8);
    let graph = trace();
    assert_eq!(run(&graph), first);
    assert_eq!(run(&graph), second);
}
