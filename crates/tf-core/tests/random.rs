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
    t.to_f64_vec().unwrap()
}

fn uniform(n: usize, seed: Option<u64>) -> Vec<f64> {
    f64s(&ops::random_uniform(&[n], 0.0, 1.0, DType::F32, seed).unwrap())
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
