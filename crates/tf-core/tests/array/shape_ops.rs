//! Shape ops on concrete and symbolic (traced) tensors.

use super::*;

#[test]
fn shape_size_and_likes() {
    for dtype in DTYPES {
        let t = Tensor::zeros([2, 0, 3], dtype).unwrap();
        let tt = t.transpose(None).unwrap();
        assert_eq!(
            ops::shape(&tt, DType::I32)
                .unwrap()
                .to_vec::<i32>()
                .unwrap(),
            vec![3, 0, 2]
        );
        assert_eq!(
            ops::shape(&tt, DType::I64)
                .unwrap()
                .to_vec::<i64>()
                .unwrap(),
            vec![3, 0, 2]
        );
        assert_eq!(
            ops::size(&t, DType::I64).unwrap().scalar::<i64>().unwrap(),
            0
        );
        let o = Tensor::zeros([2, 3], dtype).unwrap().ones_like().unwrap();
        assert_eq!(o.dtype(), dtype);
        assert_eq!(o.to_f64_vec().unwrap(), vec![1.0; 6]);
        let z = o.zeros_like().unwrap();
        assert_eq!(z.to_f64_vec().unwrap(), vec![0.0; 6]);
    }
    let s = Tensor::from_scalar(1.0f32);
    assert_eq!(ops::shape(&s, DType::I32).unwrap().dims(), &[0]);
    assert_eq!(
        ops::size(&s, DType::I32).unwrap().scalar::<i32>().unwrap(),
        1
    );
    let e = ops::shape(&s, DType::F32).unwrap_err().to_string();
    assert!(e.contains("Shape") && e.contains("out_type"), "{e}");
}

/// A minimal tracer: outputs are symbolic tensors shaped by the op's inference.
struct Tracer;

impl tf_core::context::Executor for Tracer {
    fn execute(&self, call: &tf_core::op::OpCall<'_>) -> tf_core::Result<Vec<Tensor>> {
        let specs = (call.op.infer)(&InferContext {
            op: call.op,
            inputs: call.inputs,
            attrs: call.attrs,
        })?;
        Ok(specs
            .into_iter()
            .map(|s| Tensor::symbolic(s.dtype, s.shape, Arc::new(())))
            .collect())
    }
    fn read_variable(&self, _: &tf_core::Variable) -> tf_core::Result<Tensor> {
        Err(tf_core::Error::invalid("Tracer", "no variables"))
    }
    fn assign_variable(
        &self,
        _: &tf_core::Variable,
        _: tf_core::variable::AssignKind,
        _: &Tensor,
    ) -> tf_core::Result<()> {
        Err(tf_core::Error::invalid("Tracer", "no variables"))
    }
}

#[test]
fn ops_trace_on_symbolic_tensors() {
    let _g = tf_core::context::push_executor(std::rc::Rc::new(Tracer));
    let x = sym(DType::F32, &[None, Some(3), Some(1)]);
    let shape = ops::shape(&x, DType::I64).unwrap();
    assert!(shape.is_symbolic());
    assert_eq!(shape.partial_shape().dims(), &[Some(3)]);
    assert_eq!(shape.dtype(), DType::I64);
    assert_eq!(ops::size(&x, DType::I32).unwrap().rank(), 0);
    assert_eq!(
        x.zeros_like().unwrap().partial_shape().dims(),
        &[None, Some(3), Some(1)]
    );
    assert_eq!(x.ones_like().unwrap().dtype(), DType::F32);
    let p = |t: Tensor| t.partial_shape().to_string();
    assert_eq!(p(x.transpose(None).unwrap()), "[1,3,?]");
    assert_eq!(p(x.squeeze(&[2]).unwrap()), "[?,3]");
    assert!(x.squeeze(&[]).is_err());
    assert_eq!(p(x.expand_dims(0).unwrap()), "[1,?,3,1]");
    assert_eq!(p(x.slice(&[0, 1, 0], &[-1, 2, 1]).unwrap()), "[?,2,1]");
    assert_eq!(p(x.tile(&[2, 2, 0]).unwrap()), "[?,6,0]");
    assert_eq!(p(x.pad(&[[1, 1], [0, 2], [0, 0]]).unwrap()), "[?,5,1]");
    assert_eq!(
        p(ops::concat(&[x.clone(), x.clone()], 1).unwrap()),
        "[?,6,1]"
    );
    assert_eq!(
        p(ops::concat(&[x.clone(), x.clone()], 0).unwrap()),
        "[?,3,1]"
    );
    assert_eq!(
        p(ops::stack(&[x.clone(), x.clone()], 1).unwrap()),
        "[?,2,3,1]"
    );
    assert_eq!(p(x.broadcast_to(&[4, 5, 3, 2]).unwrap()), "[4,5,3,2]");
    let ss = ops::strided_slice(
        &x,
        &[0, 1],
        &[0, 0],
        &[1, 1],
        SliceMasks {
            begin_mask: 1,
            end_mask: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p(ss), "[?,2,1]");
    let parts = ops::split(&x, 3, 1).unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(p(parts[0].clone()), "[?,1,1]");
    assert_eq!(ops::unstack(&x, 1).unwrap().len(), 3);
    assert!(ops::unstack(&x, 0).is_err());
    let idx = sym(DType::I32, &[None]);
    assert_eq!(p(x.gather(&idx, 1).unwrap()), "[?,?,1]");
}
