//! The README's tf-graph rows of "From TensorFlow to this", line by line.

#![allow(clippy::unwrap_used)]

use tf_core::op::TensorSpec;
use tf_core::{DType, Tensor, Variable, ops};
use tf_graph::{Signature, cond, function, init_scope, saved_model, while_loop};

#[test]
fn readme_tf_graph_rows_run() -> tf_core::Result<()> {
    let f = function(|a| Ok(vec![ops::relu(&a[0])?]));
    let x = Tensor::from_vec(vec![-1.0f32, 2.0], [1, 2])?;
    assert_eq!(
        f.call(std::slice::from_ref(&x))?[0].to_vec::<f32>()?,
        vec![0.0, 2.0]
    );
    assert_eq!(f.trace_count(), 1);

    let g = function(|a| Ok(vec![ops::reduce_sum(&a[0], Some(&[1]), false)?]))
        .input_signature(vec![TensorSpec::new(DType::F32, vec![None, Some(784)])]);
    let specs = [TensorSpec::new(DType::F32, vec![None, Some(784)])];
    let cf = g.get_concrete_function(&specs)?;
    assert!(cf.graph().to_string().contains("Sum"));

    let p = Tensor::from_scalar(true);
    let r = cond(
        &p,
        || Ok(vec![Tensor::from_scalar(1i32)]),
        || Ok(vec![Tensor::from_scalar(2i32)]),
    )?;
    assert_eq!(r[0].scalar::<i32>()?, 1);
    let w = while_loop(
        |v| ops::less(&v[0], &Tensor::from_scalar(3i32)),
        |v| Ok(vec![ops::add(&v[0], &Tensor::from_scalar(1i32))?]),
        vec![Tensor::from_scalar(0i32)],
        None,
    )?;
    assert_eq!(w[0].scalar::<i32>()?, 3);
    let v = init_scope(|| Variable::new(Tensor::from_scalar(1.0f32)))?;
    assert_eq!(v.read()?.scalar::<f32>()?, 1.0);

    let dir = std::env::temp_dir().join(format!("tf_graph_cheat_{}", std::process::id()));
    let h = function(|a| Ok(vec![ops::mul(&a[0], &a[0])?]));
    let hc = h.get_concrete_function(&[TensorSpec::new(DType::F32, vec![None])])?;
    saved_model::save(&dir, &[Signature::new("serving_default", hc)])?;
    let y = saved_model::load(&dir)?
        .signature("serving_default")?
        .call(&[Tensor::from_vec(vec![3.0f32], [1])?])?;
    assert_eq!(y[0].to_vec::<f32>()?, vec![9.0]);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
