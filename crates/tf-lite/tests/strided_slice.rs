//! STRIDED_SLICE with ellipsis and new-axis masks (TensorFlow's sparse slice specs), on a
//! one-operator model, against NumPy's results for the same indexing expressions.

#![allow(clippy::unwrap_used)] // test helpers unwrap like the tests do
#![allow(clippy::field_reassign_with_default)] // the schema's tables are non-exhaustive

use tf_lite::Interpreter;
use tf_lite::format::{self, BuiltinOperator, BuiltinOptions, StridedSliceOptions, TensorType};

struct Spec {
    begin: Vec<i32>,
    end: Vec<i32>,
    strides: Vec<i32>,
    begin_mask: i32,
    end_mask: i32,
    ellipsis_mask: i32,
    new_axis_mask: i32,
    shrink_axis_mask: i32,
}

fn tensor(name: &str, shape: Vec<i32>, ty: TensorType, buffer: u32) -> format::Tensor {
    let mut t = format::Tensor::default();
    t.name = Some(name.into());
    t.shape = Some(shape);
    t.type_ = ty;
    t.buffer = buffer;
    t
}

fn model(spec: &Spec) -> Vec<u8> {
    let mut buffers = vec![format::Buffer::default()];
    let mut tensors = vec![tensor("x", vec![2, 3, 4], TensorType::FLOAT32, 0)];
    for (name, v) in [
        ("begin", &spec.begin),
        ("end", &spec.end),
        ("strides", &spec.strides),
    ] {
        let mut b = format::Buffer::default();
        b.data = Some(v.iter().flat_map(|x| x.to_le_bytes()).collect());
        buffers.push(b);
        let idx = (buffers.len() - 1) as u32;
        tensors.push(tensor(name, vec![v.len() as i32], TensorType::INT32, idx));
    }
    tensors.push(tensor("y", vec![1], TensorType::FLOAT32, 0));
    let mut o = StridedSliceOptions::default();
    o.begin_mask = spec.begin_mask;
    o.end_mask = spec.end_mask;
    o.ellipsis_mask = spec.ellipsis_mask;
    o.new_axis_mask = spec.new_axis_mask;
    o.shrink_axis_mask = spec.shrink_axis_mask;
    let mut op = format::Operator::default();
    op.inputs = Some(vec![0, 1, 2, 3]);
    op.outputs = Some(vec![4]);
    op.builtin_options = BuiltinOptions::StridedSliceOptions(Box::new(o));
    let mut sg = format::SubGraph::default();
    sg.tensors = Some(tensors);
    sg.inputs = Some(vec![0]);
    sg.outputs = Some(vec![4]);
    sg.operators = Some(vec![op]);
    let mut m = format::Model::default();
    m.version = format::SCHEMA_VERSION;
    m.operator_codes = Some(vec![format::operator_code(
        BuiltinOperator::STRIDED_SLICE,
        1,
    )]);
    m.subgraphs = Some(vec![sg]);
    m.buffers = Some(buffers);
    format::write_model(&m).unwrap()
}

fn run(spec: &Spec) -> tf_lite::Result<(Vec<usize>, Vec<f32>)> {
    let mut it = Interpreter::from_bytes(&model(spec))?;
    it.allocate_tensors()?;
    let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
    it.input_mut::<f32>(0)?.copy_from_slice(&x);
    it.invoke()?;
    Ok((
        it.output_info(0)?.shape.clone(),
        it.output::<f32>(0)?.to_vec(),
    ))
}

fn spec(begin: &[i32], end: &[i32], strides: &[i32]) -> Spec {
    Spec {
        begin: begin.to_vec(),
        end: end.to_vec(),
        strides: strides.to_vec(),
        begin_mask: 0,
        end_mask: 0,
        ellipsis_mask: 0,
        new_axis_mask: 0,
        shrink_axis_mask: 0,
    }
}

fn floats(v: &[i32]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[test]
fn ellipsis_fills_the_unnamed_dimensions() {
    // x[..., 1:3]
    let s = Spec {
        ellipsis_mask: 1,
        ..spec(&[0, 1], &[0, 3], &[1, 1])
    };
    let (shape, y) = run(&s).unwrap();
    assert_eq!(shape, [2, 3, 2]);
    assert_eq!(y, floats(&[1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22]));
}

#[test]
fn new_axis_adds_a_dimension_of_one() {
    // x[None, 1]
    let s = Spec {
        new_axis_mask: 1,
        shrink_axis_mask: 2,
        ..spec(&[0, 1], &[0, 2], &[1, 1])
    };
    let (shape, y) = run(&s).unwrap();
    assert_eq!(shape, [1, 3, 4]);
    assert_eq!(y, floats(&(12..24).collect::<Vec<_>>()));
}

#[test]
fn shrink_ellipsis_new_axis_and_negative_stride_together() {
    // x[1, ..., None, ::-2]
    let s = Spec {
        shrink_axis_mask: 1,
        ellipsis_mask: 2,
        new_axis_mask: 4,
        begin_mask: 8,
        end_mask: 8,
        ..spec(&[1, 0, 0, 0], &[2, 0, 0, 0], &[1, 1, 1, -2])
    };
    let (shape, y) = run(&s).unwrap();
    assert_eq!(shape, [3, 1, 2]);
    assert_eq!(y, floats(&[15, 13, 19, 17, 23, 21]));
}

#[test]
fn bad_specs_are_errors() {
    // Two ellipses.
    let s = Spec {
        ellipsis_mask: 3,
        ..spec(&[0, 0], &[0, 0], &[1, 1])
    };
    let e = run(&s).unwrap_err().to_string();
    assert!(e.contains("STRIDED_SLICE") && e.contains("ellipsis"), "{e}");
    // More named dimensions than the input has.
    let s = spec(&[0, 0, 0, 0], &[1, 1, 1, 1], &[1, 1, 1, 1]);
    let e = run(&s).unwrap_err().to_string();
    assert!(e.contains("rank 3"), "{e}");
}
