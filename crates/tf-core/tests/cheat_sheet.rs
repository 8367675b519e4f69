//! The README's "From TensorFlow to this" table, line by line: every tf-core entry
//! there must compile and do what the TensorFlow column does.

#![allow(clippy::unwrap_used)]

use tf_core::ops::{self, Conv2dOptions, Padding};
use tf_core::{DType, Device, Tensor, Variable, list_physical_devices, with_device};

#[test]
fn readme_cheat_sheet_runs() -> tf_core::Result<()> {
    let m = Tensor::from_vec(vec![1f32, 2., 3., 4.], [2, 2])?;
    let s = Tensor::from_scalar(3.0f32);
    assert_eq!(Tensor::zeros([2, 3], DType::F32)?.dims(), &[2, 3]);
    assert_eq!(Tensor::ones([2], DType::I32)?.to_vec::<i32>()?, vec![1, 1]);
    assert_eq!(Tensor::fill([2], 7i32)?.to_vec::<i32>()?, vec![7, 7]);
    assert_eq!(Tensor::range(0., 10., 2., DType::I32)?.num_elements(), 5);
    assert_eq!(Tensor::linspace(0., 1., 5, DType::F32)?.num_elements(), 5);
    assert_eq!(Tensor::eye(3, None, DType::F32)?.dims(), &[3, 3]);
    assert_eq!(
        (m.dtype(), m.device(), s.scalar::<f32>()?),
        (DType::F32, Device::Cpu, 3.0)
    );
    assert_eq!(m.to_vec::<f32>()?, vec![1., 2., 3., 4.]);
    let sum = ops::add(&m, &m)?;
    assert_eq!(ops::sub(&sum, &m)?.to_vec::<f32>()?, m.to_vec::<f32>()?);
    assert_eq!(ops::relu(&ops::neg(&m)?)?.to_vec::<f32>()?, vec![0.0; 4]);
    assert_eq!(ops::reshape(&m, &[-1, 4])?.dims(), &[1, 4]);
    assert_eq!(ops::identity(&m)?.to_vec::<f32>()?, m.to_vec::<f32>()?);
    assert_eq!(
        ops::matmul_transposed(&m, &m, false, true)?.to_vec::<f32>()?,
        vec![5., 11., 11., 25.]
    );
    assert_eq!(
        ops::matmul(&m, &m)?.to_vec::<f32>()?,
        vec![7., 10., 15., 22.]
    );
    let img = Tensor::ones([1, 4, 4, 1], DType::F32)?;
    let f = Tensor::ones([3, 3, 1, 2], DType::F32)?;
    assert_eq!(
        ops::conv2d(&img, &f, &Conv2dOptions::same().strides(&[2]))?.dims(),
        &[1, 2, 2, 2]
    );
    assert_eq!(
        ops::max_pool2d(&img, &[2, 2], &[2, 2], Padding::Valid)?.dims(),
        &[1, 2, 2, 1]
    );
    let x3 = Tensor::ones([2, 3, 4], DType::F32)?;
    assert_eq!(
        ops::reduce_sum(&x3, Some(&[0, 2]), true)?.to_vec::<f32>()?,
        vec![8.0; 3]
    );
    assert_eq!(ops::argmax(&m, 1)?.to_vec::<i64>()?, vec![1, 1]);
    assert_eq!(ops::top_k(&m, 1, true)?.0.to_vec::<f32>()?, vec![2., 4.]);
    let logits = ops::softmax(&m, -1)?;
    assert!((ops::reduce_sum(&logits, None, false)?.scalar::<f32>()? - 2.0).abs() < 1e-6);
    let labels = Tensor::vector(&[0i32, 1]);
    assert_eq!(
        ops::sparse_softmax_cross_entropy_with_logits(&labels, &m)?.dims(),
        &[2]
    );
    assert_eq!(
        ops::transpose(&m, None)?.to_vec::<f32>()?,
        vec![1., 3., 2., 4.]
    );
    assert_eq!(ops::concat(&[m.clone(), m.clone()], 1)?.dims(), &[2, 4]);
    assert_eq!(ops::stack(&[m.clone(), m.clone()], 0)?.dims(), &[2, 2, 2]);
    assert_eq!(ops::split(&m, 2, 1)?.len(), 2);
    let idx = Tensor::vector(&[1i32, 0]);
    assert_eq!(
        ops::gather(&m, &idx, 1, 0)?.to_vec::<f32>()?,
        vec![2., 1., 4., 3.]
    );
    assert_eq!(
        ops::one_hot(&idx, 10, 1.0, 0.0, -1, DType::F32)?.dims(),
        &[2, 10]
    );
    assert_eq!(ops::cast(&m, DType::I32)?.dtype(), DType::I32);
    let c = ops::greater(&m, &Tensor::from_scalar(2.5f32))?;
    assert_eq!(
        ops::where_(&c, &m, &ops::neg(&m)?)?.to_vec::<f32>()?,
        vec![-1., -2., 3., 4.]
    );
    let b = (&m + &(&m * 2.0f32)?)?;
    assert_eq!(b.to_vec::<f32>()?, vec![3., 6., 9., 12.]);
    ops::set_random_seed(1);
    let r1 = ops::random_normal(&[2, 3], 0.0, 1.0, DType::F32, Some(7))?;
    ops::set_random_seed(1);
    let r2 = ops::random_normal(&[2, 3], 0.0, 1.0, DType::F32, Some(7))?;
    assert_eq!(r1.to_vec::<f32>()?, r2.to_vec::<f32>()?);
    assert_eq!(ops::dropout(&m, 0.5, None, None)?.dims(), &[2, 2]);
    let path = std::env::temp_dir().join(format!("cheat_sheet_{}.npy", std::process::id()));
    m.write_npy(&path)?;
    assert_eq!(
        Tensor::read_npy(&path)?.to_vec::<f32>()?,
        m.to_vec::<f32>()?
    );
    let _ = std::fs::remove_file(&path);
    let v = Variable::builder(m.clone()).name("w").build()?;
    v.assign_add(&m)?;
    assert_eq!(v.read()?.to_vec::<f32>()?, vec![2., 4., 6., 8.]);
    assert_eq!(
        with_device(Device::Cpu, || ops::add(&m, &m))?.device(),
        Device::Cpu
    );
    assert_eq!(m.to(Device::Cpu)?.device(), Device::Cpu);
    assert!(list_physical_devices(Some("GPU")).is_empty());
    tf_core::device::set_log_device_placement(false);
    Ok(())
}
