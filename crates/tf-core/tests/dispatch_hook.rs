//! The context stack: observers see every op and variable read; executors replace
//! execution; observers below an executor see nothing of what it handles.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use tf_core::context::{
    Executor, Observer, active_observers, push_barrier, push_executor, push_observer,
    with_empty_context,
};
use tf_core::op::{InferContext, OpCall, execute_eager};
use tf_core::variable::AssignKind;
use tf_core::{DType, Error, Result, Tensor, Variable, ops};

#[derive(Default)]
struct Recorder {
    log: RefCell<Vec<String>>,
}

impl Observer for Recorder {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn record_op(&self, call: &OpCall<'_>, outputs: &[Tensor]) {
        let shapes: Vec<String> = outputs.iter().map(|t| t.shape().to_string()).collect();
        self.log
            .borrow_mut()
            .push(format!("{}->{}", call.op.name, shapes.join(",")));
    }
    fn record_variable_read(&self, var: &Variable, _value: &Tensor) {
        self.log.borrow_mut().push(format!("read:{}", var.name()));
    }
}

#[test]
fn observer_sees_every_op_of_a_computation() {
    let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], [2, 2]).unwrap();
    let rec = Rc::new(Recorder::default());
    let y = {
        let _g = push_observer(rec.clone());
        let n = ops::neg(&x).unwrap();
        let s = ops::add(&x, &n).unwrap();
        let r = ops::relu(&ops::sub(&s, &x).unwrap()).unwrap();
        ops::reshape(&r, &[-1]).unwrap()
    };
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 2.0, 0.0, 4.0]);
    assert_eq!(
        *rec.log.borrow(),
        vec![
            "Neg->[2,2]",
            "AddV2->[2,2]",
            "Sub->[2,2]",
            "Relu->[2,2]",
            "Reshape->[4]"
        ]
    );
    // After the guard is dropped nothing is recorded.
    ops::neg(&x).unwrap();
    assert_eq!(rec.log.borrow().len(), 5);
}

#[test]
fn nested_observers_all_see_ops_and_guards_pop_out_of_order() {
    let x = Tensor::from_scalar(1.0f64);
    let outer = Rc::new(Recorder::default());
    let inner = Rc::new(Recorder::default());
    let g1 = push_observer(outer.clone());
    let g2 = push_observer(inner.clone());
    ops::neg(&x).unwrap();
    drop(g1); // out of order: the outer one goes first
    ops::relu(&x).unwrap();
    drop(g2);
    ops::relu(&x).unwrap();
    assert_eq!(*outer.log.borrow(), vec!["Neg->[]"]);
    assert_eq!(*inner.log.borrow(), vec!["Neg->[]", "Relu->[]"]);
}

#[test]
fn failed_ops_are_not_recorded() {
    let rec = Rc::new(Recorder::default());
    let _g = push_observer(rec.clone());
    let a = Tensor::zeros([2, 3], DType::F32).unwrap();
    let b = Tensor::zeros([4], DType::F32).unwrap();
    assert!(ops::add(&a, &b).is_err());
    assert!(rec.log.borrow().is_empty());
}

#[test]
fn variable_reads_are_observed() {
    let v = Variable::builder(Tensor::from_scalar(2.0f32))
        .name("w")
        .build()
        .unwrap();
    let rec = Rc::new(Recorder::default());
    let _g = push_observer(rec.clone());
    let t = v.read().unwrap();
    let _ = v.value(); // raw access is not a read op
    assert_eq!(t.scalar::<f32>().unwrap(), 2.0);
    assert_eq!(*rec.log.borrow(), vec![format!("read:{}", v.name())]);
}

/// A toy tracer: ops become symbolic outputs shaped by the op's own inference, numbered
/// in a node list; variables become symbolic captures; assignments are recorded.
#[derive(Default)]
struct ToyTracer {
    nodes: RefCell<Vec<String>>,
    refuse_variables: bool,
}

impl Executor for ToyTracer {
    fn execute(&self, call: &OpCall<'_>) -> Result<Vec<Tensor>> {
        let specs = (call.op.infer)(&InferContext {
            op: call.op,
            inputs: call.inputs,
            attrs: call.attrs,
        })?;
        let id = {
            let mut n = self.nodes.borrow_mut();
            n.push(call.op.name.to_string());
            n.len() - 1
        };
        Ok(specs
            .into_iter()
            .map(|s| Tensor::symbolic(s.dtype, s.shape, Arc::new(id)))
            .collect())
    }
    fn read_variable(&self, var: &Variable) -> Result<Tensor> {
        self.nodes
            .borrow_mut()
            .push(format!("capture:{}", var.name()));
        Ok(Tensor::symbolic(
            var.dtype(),
            var.shape().into(),
            Arc::new(usize::MAX),
        ))
    }
    fn assign_variable(&self, var: &Variable, kind: AssignKind, _value: &Tensor) -> Result<()> {
        self.nodes
            .borrow_mut()
            .push(format!("{}:{}", kind.op_name(), var.name()));
        Ok(())
    }
    fn create_variable(&self, _var: &Variable) -> Result<()> {
        if self.refuse_variables {
            Err(Error::precondition(
                "tf.function",
                "no new variables on retrace",
            ))
        } else {
            Ok(())
        }
    }
}

#[test]
fn executor_replaces_execution_and_hides_ops_from_observers_below() {
    let below = Rc::new(Recorder::default());
    let above = Rc::new(Recorder::default());
    let tracer = Rc::new(ToyTracer::default());
    let v = Variable::new(Tensor::from_vec(vec![1.0f32; 3], [3]).unwrap()).unwrap();
    let _g0 = push_observer(below.clone());
    let out = {
        let _g1 = push_executor(tracer.clone());
        let _g2 = push_observer(above.clone());
        let x = Tensor::symbolic(DType::F32, vec![None, Some(3)].into(), Arc::new(0usize));
        let w = v.read().unwrap();
        let y = ops::relu(&ops::add(&x, &w).unwrap()).unwrap();
        v.assign_add(&Tensor::from_vec(vec![1.0f32; 3], [3]).unwrap())
            .unwrap();
        y
    };
    assert!(out.is_symbolic());
    assert_eq!(out.partial_shape().to_string(), "[?,3]");
    assert_eq!(
        *tracer.nodes.borrow(),
        vec![
            format!("capture:{}", v.name()),
            "AddV2".to_string(),
            "Relu".to_string(),
            format!("AssignAddVariableOp:{}", v.name()),
        ]
    );
    // The assignment was recorded, not performed.
    assert_eq!(v.value().to_vec::<f32>().unwrap(), vec![1.0; 3]);
    assert_eq!(above.log.borrow().len(), 3, "{:?}", above.log.borrow());
    assert!(below.log.borrow().is_empty(), "{:?}", below.log.borrow());
    // Shape errors still surface while tracing, from the same inference function.
    let _g = push_executor(tracer.clone());
    let x = Tensor::symbolic(DType::F32, vec![None, Some(3)].into(), Arc::new(0usize));
    let bad = Tensor::zeros([4], DType::F32).unwrap();
    let e = ops::add(&x, &bad).unwrap_err().to_string();
    assert!(
        e.contains("AddV2") && e.contains("[?,3]") && e.contains("[4]"),
        "{e}"
    );
}

#[test]
fn executor_can_refuse_variable_creation() {
    let tracer = Rc::new(ToyTracer {
        refuse_variables: true,
        ..Default::default()
    });
    let _g = push_executor(tracer);
    let e = Variable::new(Tensor::from_scalar(0.0f32)).unwrap_err();
    assert!(e.to_string().contains("retrace"), "{e}");
    // An isolated eager region ignores the tracer.
    let v = with_empty_context(|| Variable::new(Tensor::from_scalar(0.0f32))).unwrap();
    // Reading it under the tracer yields the tracer's symbolic capture.
    assert!(v.read().unwrap().is_symbolic());
}

#[test]
fn symbolic_tensors_cannot_run_eagerly() {
    let x = Tensor::symbolic(DType::F32, vec![Some(2)].into(), Arc::new(0usize));
    let e = ops::neg(&x).unwrap_err().to_string();
    assert!(e.contains("Neg") && e.contains("symbolic"), "{e}");
    assert!(x.to_vec::<f32>().is_err());
    let call_inputs = [x];
    let attrs = tf_core::op::Attrs::new();
    assert!(execute_eager(&OpCall::new(&ops::RELU, &call_inputs, &attrs)).is_err());
}

#[test]
fn barriers_hide_observers_below_but_not_execution() {
    let below = Rc::new(Recorder::default());
    let above = Rc::new(Recorder::default());
    let x = Tensor::from_scalar(1.0f32);
    let _g0 = push_observer(below.clone());
    assert_eq!(active_observers().len(), 1);
    {
        let _b = push_barrier();
        assert!(active_observers().is_empty());
        let _g1 = push_observer(above.clone());
        let found = active_observers();
        assert_eq!(found.len(), 1);
        assert!(found[0].as_any().downcast_ref::<Recorder>().is_some());
        assert_eq!(ops::neg(&x).unwrap().scalar::<f32>().unwrap(), -1.0);
    }
    ops::relu(&x).unwrap();
    assert_eq!(*above.log.borrow(), vec!["Neg->[]"]);
    assert_eq!(*below.log.borrow(), vec!["Relu->[]"]);
    // A barrier above a tracer still lets the tracer execute.
    let tracer = Rc::new(ToyTracer::default());
    let _t = push_executor(tracer.clone());
    let _b = push_barrier();
    let s = Tensor::symbolic(DType::F32, vec![Some(2)].into(), Arc::new(0usize));
    assert!(ops::neg(&s).unwrap().is_symbolic());
    assert_eq!(*tracer.nodes.borrow(), vec!["Neg".to_string()]);
}

#[test]
fn outputs_never_share_an_input_id() {
    // Identity of a contiguous tensor needs no copy, but its output is still a new tensor.
    let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
    let y = ops::identity(&x).unwrap();
    assert_ne!(x.id(), y.id());
    assert!(y.shares_storage_with(&x));
    let c = ops::cast(&x, DType::F32).unwrap();
    assert_ne!(x.id(), c.id());
}
