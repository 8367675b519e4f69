//! Importing SavedModels written by TensorFlow (`saved_model.pb` + `variables/`): each
//! signature of the `serve` MetaGraph becomes a tf-graph function. Function calls
//! (`StatefulPartitionedCall`, `PartitionedCall`) are inlined, variables are read from the
//! checkpoint (mapped to their handles through the restore function), and only the nodes
//! a signature's outputs need are imported (control edges are not: a serving signature's
//! side effects are its variable reads).
//!
//! Serialized `tf.Example` inputs: tf-core has no string dtype, so a DT_STRING signature
//! input consumed by `ParseExample` / `ParseExampleV2` is replaced by the parse op's dense
//! outputs, which become the function's inputs; the feature spec (keys, dtypes, shapes,
//! defaults) is recorded as the signature's [`ExampleInput`] so that a server parses the
//! examples itself. Sparse and ragged features are refused by name.
//!
//! Ops are translated to tf-core's registrations; TensorFlow inputs that tf-core takes as
//! attributes (Reshape's shape, reduction axes, StridedSlice's bounds, ...) must be
//! constants. An unsupported op is an error naming it and its node.

mod bundle;
pub(crate) mod proto;

use super::{LoadedSignature, SavedModel, SignatureDef};
use crate::function::ConcreteFunction;
use crate::graph::{Graph, NodeKind, Output};
use crate::passes::Pipeline;
use bundle::Bundle;
use prost::Message;
use proto::{FunctionDef, NodeDef, TensorProto, TensorShapeProto, attr_value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tf_core::op::{AttrValue, Attrs, TensorSpec, lookup_op};
use tf_core::{DType, Error, PartialShape, Result, Tensor, Variable};

const WHAT: &str = "SavedModel";
/// Largest `saved_model.pb` accepted.
const MAX_PB_BYTES: u64 = 1 << 30;
/// Deepest nesting of inlined function calls.
const MAX_CALL_DEPTH: usize = 64;
/// Longest chain of nodes followed while importing (the import recurses along edges; a
/// deeper graph is refused rather than overflowing the stack).
const MAX_EDGE_DEPTH: usize = 4096;

pub(super) fn bad(msg: impl Into<String>) -> Error {
    Error::format(WHAT, msg.into())
}

/// One feature of a serialized-example input (a `FixedLenFeature`).
#[derive(Clone, Debug)]
pub struct FeatureSpec {
    /// The feature's key in the examples (and the function input's name).
    pub name: String,
    /// `F32` (float_list) or `I64` (int64_list).
    pub dtype: DType,
    /// The per-example shape (the parsed tensor is `[n, ..shape]`).
    pub shape: Vec<usize>,
    /// The value a missing feature takes (shape `shape`); `None`: the feature is required.
    pub default: Option<Tensor>,
}

/// A signature input of serialized `tf.Example`s that the graph parses with
/// `ParseExample(V2)`: the function takes the parsed features instead (in `features`
/// order, after the signature's other inputs).
#[derive(Clone, Debug)]
pub struct ExampleInput {
    /// The DT_STRING input's name in the signature (`inputs`, `examples`, ...).
    pub input: String,
    /// The dense features the parse op produces, in its order.
    pub features: Vec<FeatureSpec>,
}

/// TensorFlow's `DataType` enum to tf-core's (numeric types tf-core has).
pub(super) fn dtype_of(t: i32) -> Option<DType> {
    Some(match t {
        1 => DType::F32,
        2 => DType::F64,
        3 => DType::I32,
        4 => DType::U8,
        6 => DType::I8,
        9 => DType::I64,
        10 => DType::Bool,
        14 => DType::BF16,
        19 => DType::F16,
        _ => return None,
    })
}

const DT_STRING: i32 = 7;
const DT_RESOURCE: i32 = 20;

fn type_name(t: i32) -> String {
    match t {
        DT_STRING => "DT_STRING".into(),
        DT_RESOURCE => "DT_RESOURCE".into(),
        _ => dtype_of(t).map_or_else(|| format!("DataType {t}"), |d| d.name().to_string()),
    }
}

/// A fully known shape's dims.
pub(super) fn shape_of(s: Option<&TensorShapeProto>) -> Option<Vec<usize>> {
    match s {
        None => Some(Vec::new()),
        Some(s) if s.unknown_rank => None,
        Some(s) => s.dim.iter().map(|d| usize::try_from(d.size).ok()).collect(),
    }
}

fn partial_shape(s: Option<&TensorShapeProto>) -> Option<PartialShape> {
    match s {
        None => Some(PartialShape::from(Vec::<Option<usize>>::new())),
        Some(s) if s.unknown_rank => None,
        Some(s) => Some(
            s.dim
                .iter()
                .map(|d| usize::try_from(d.size).ok())
                .collect::<Vec<_>>()
                .into(),
        ),
    }
}

/// A constant's value: numeric tensors, or strings (which tf-core cannot hold).
enum ConstValue {
    Tensor(Tensor),
    Strings(Vec<Vec<u8>>),
}

fn tensor_from_proto(t: &TensorProto, at: &str) -> Result<ConstValue> {
    let dims = shape_of(t.tensor_shape.as_ref())
        .ok_or_else(|| bad(format!("{at}: constant of unknown shape")))?;
    let n: usize = dims.iter().product();
    if t.dtype == DT_STRING {
        let v = match t.string_val.len() {
            k if k == n => t.string_val.clone(),
            1 => vec![t.string_val[0].clone(); n],
            0 if n == 0 => Vec::new(),
            k => return Err(bad(format!("{at}: {k} strings for shape {dims:?}"))),
        };
        return Ok(ConstValue::Strings(v));
    }
    let dtype = dtype_of(t.dtype).ok_or_else(|| {
        bad(format!(
            "{at}: constants of type {} are not supported",
            type_name(t.dtype)
        ))
    })?;
    if !t.tensor_content.is_empty() || n == 0 {
        return Tensor::from_le_bytes("SavedModel", dtype, dims.as_slice(), &t.tensor_content)
            .map(ConstValue::Tensor)
            .map_err(|e| bad(format!("{at}: {e}")));
    }
    // Typed fields; a shorter list repeats its last value (TensorFlow's rule).
    fn fill<T: Clone>(v: &[T], n: usize, at: &str) -> Result<Vec<T>> {
        match v.last() {
            Some(last) if v.len() <= n => {
                let mut out = v.to_vec();
                out.resize(n, last.clone());
                Ok(out)
            }
            _ => Err(bad(format!("{at}: {} values for {n} elements", v.len()))),
        }
    }
    let shape = dims.as_slice();
    let t = match dtype {
        DType::F32 => Tensor::from_vec(fill(&t.float_val, n, at)?, shape),
        DType::F64 => Tensor::from_vec(fill(&t.double_val, n, at)?, shape),
        DType::I32 => Tensor::from_vec(fill(&t.int_val, n, at)?, shape),
        DType::I64 => Tensor::from_vec(fill(&t.int64_val, n, at)?, shape),
        DType::Bool => Tensor::from_vec(fill(&t.bool_val, n, at)?, shape),
        DType::U8 | DType::I8 => {
            let v = fill(&t.int_val, n, at)?;
            let b: Vec<u8> = v.iter().map(|&x| x as u8).collect();
            Tensor::from_le_bytes("SavedModel", dtype, shape, &b)
        }
        DType::F16 | DType::BF16 => {
            let v = fill(&t.half_val, n, at)?;
            let b: Vec<u8> = v.iter().flat_map(|&x| (x as u16).to_le_bytes()).collect();
            Tensor::from_le_bytes("SavedModel", dtype, shape, &b)
        }
    };
    t.map(ConstValue::Tensor)
        .map_err(|e| bad(format!("{at}: {e}")))
}

/// What a node output is during import.
#[derive(Clone)]
enum Val {
    /// A tensor of the graph being built.
    T(Output),
    /// A resource handle of a variable.
    Var(Variable),
    /// A string constant (ParseExample's keys, ...).
    Strings(Vec<Vec<u8>>),
    /// The DT_STRING signature input of serialized examples (its name).
    Serialized(String),
}

/// A function body being inlined (or the outer graph: `func` None).
struct Scope<'a> {
    func: Option<&'a FunctionDef>,
    nodes: HashMap<&'a str, &'a NodeDef>,
    args: HashMap<&'a str, Val>,
}

struct Importer<'a> {
    functions: HashMap<&'a str, &'a FunctionDef>,
    scopes: Vec<Scope<'a>>,
    memo: HashMap<(usize, String), Vec<Val>>,
    /// VarHandleOp node name (outer graph) -> checkpoint key.
    var_keys: HashMap<String, String>,
    vars: HashMap<String, Variable>,
    bundle: &'a Bundle,
    graph: Graph,
    /// The signature's inputs by outer node name.
    inputs: HashMap<String, Val>,
    /// Graph arguments in order: (name, spec).
    args: Vec<(String, TensorSpec)>,
    example: Option<ExampleInput>,
    depth: usize,
    edge_depth: usize,
    signature: String,
}

/// Splits a reference `node`, `node:k` (GraphDef) or `node:arg:k` (FunctionDef body).
fn split_ref(r: &str) -> (&str, Option<&str>, usize) {
    let mut parts = r.splitn(3, ':');
    let node = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (None, _) => (node, None, 0),
        (Some(k), None) => (node, None, k.parse().unwrap_or(usize::MAX)),
        (Some(arg), Some(k)) => (node, Some(arg), k.parse().unwrap_or(usize::MAX)),
    }
}

/// Where output argument `arg` of `op` starts among its outputs, for the ops here with
/// several single-tensor output arguments (list outputs are one argument).
fn out_arg_offset(op: &str, arg: &str) -> usize {
    let args: &[&str] = match op {
        "TopKV2" => &["values", "indices"],
        "Unique" => &["y", "idx"],
        "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => &[
            "y",
            "batch_mean",
            "batch_variance",
            "reserve_space_1",
            "reserve_space_2",
            "reserve_space_3",
        ],
        _ => &[],
    };
    args.iter().position(|a| *a == arg).unwrap_or(0)
}

fn attr<'n>(n: &'n NodeDef, k: &str) -> Option<&'n attr_value::Value> {
    n.attr.get(k).and_then(|a| a.value.as_ref())
}

fn attr_int(n: &NodeDef, k: &str) -> Option<i64> {
    match attr(n, k) {
        Some(attr_value::Value::I(i)) => Some(*i),
        _ => None,
    }
}

fn attr_bool(n: &NodeDef, k: &str) -> bool {
    matches!(attr(n, k), Some(attr_value::Value::B(true)))
}

fn attr_types(n: &NodeDef, k: &str) -> Vec<i32> {
    match attr(n, k) {
        Some(attr_value::Value::List(l)) => l.r#type.clone(),
        _ => Vec::new(),
    }
}

impl<'a> Importer<'a> {
    fn at(&self, n: &NodeDef) -> String {
        format!(
            "signature '{}': node '{}' ({})",
            self.signature, n.name, n.op
        )
    }

    /// The value a reference in scope `s` names.
    fn input(&mut self, s: usize, r: &str) -> Result<Val> {
        if let Some(v) = self.scopes[s].args.get(r) {
            return Ok(v.clone());
        }
        let (node, arg, k) = split_ref(r);
        let outs = self.eval(s, node)?;
        // Function bodies name an output argument: its offset among the op's outputs
        // (ParseExample's `outs` hold only its dense_values, numbered from 0).
        let idx = match arg {
            Some(a) => {
                let op = self.scopes[s].nodes.get(node).map_or("", |n| n.op.as_str());
                out_arg_offset(op, a).saturating_add(k)
            }
            None => k,
        };
        outs.get(idx).cloned().ok_or_else(|| {
            bad(format!(
                "signature '{}': reference '{r}' names output {idx} of a node with {}",
                self.signature,
                outs.len()
            ))
        })
    }

    fn eval(&mut self, s: usize, name: &str) -> Result<Vec<Val>> {
        if let Some(v) = self.memo.get(&(s, name.to_string())) {
            return Ok(v.clone());
        }
        let scope = &self.scopes[s];
        let node = *scope.nodes.get(name).ok_or_else(|| {
            bad(format!(
                "signature '{}': reference to unknown node '{name}'{}",
                self.signature,
                scope
                    .func
                    .and_then(|f| f.signature.as_ref())
                    .map(|o| format!(" in function '{}'", o.name))
                    .unwrap_or_default()
            ))
        })?;
        if self.edge_depth >= MAX_EDGE_DEPTH {
            return Err(Error::unimplemented(
                WHAT,
                format!(
                    "signature '{}': node '{name}' lies more than {MAX_EDGE_DEPTH} edges deep",
                    self.signature
                ),
            ));
        }
        self.edge_depth += 1;
        let out = self.import(s, node);
        self.edge_depth -= 1;
        let out = out?;
        self.memo.insert((s, name.to_string()), out.clone());
        Ok(out)
    }

    fn data_inputs(&mut self, s: usize, n: &NodeDef) -> Result<Vec<Val>> {
        n.input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(|i| self.input(s, i))
            .collect()
    }

    fn variable(&mut self, handle: &str) -> Result<Variable> {
        if let Some(v) = self.vars.get(handle) {
            return Ok(v.clone());
        }
        let key = self.var_keys.get(handle).ok_or_else(|| {
            bad(format!(
                "variable '{handle}' is not restored from the checkpoint by the SavedModel's restore function"
            ))
        })?;
        let value = self.bundle.tensor(key)?;
        let v = Variable::builder(value)
            .name(handle)
            .trainable(false)
            .build()?;
        self.vars.insert(handle.to_string(), v.clone());
        Ok(v)
    }

    fn import(&mut self, s: usize, n: &'a NodeDef) -> Result<Vec<Val>> {
        let at = self.at(n);
        match n.op.as_str() {
            "Placeholder" if self.scopes[s].func.is_none() => self
                .inputs
                .get(&n.name)
                .cloned()
                .map(|v| vec![v])
                .ok_or_else(|| {
                    bad(format!(
                        "{at}: a placeholder that is not an input of the signature"
                    ))
                }),
            "VarHandleOp" if self.scopes[s].func.is_none() => {
                Ok(vec![Val::Var(self.variable(&n.name)?)])
            }
            "Const" => {
                let Some(attr_value::Value::Tensor(t)) = attr(n, "value") else {
                    return Err(bad(format!("{at}: no 'value' tensor")));
                };
                Ok(vec![match tensor_from_proto(t, &at)? {
                    ConstValue::Tensor(t) => Val::T(self.graph.constant(t)),
                    ConstValue::Strings(v) => Val::Strings(v),
                }])
            }
            "NoOp" => Ok(Vec::new()),
            "Identity" | "StopGradient" | "Snapshot" | "IdentityN" => self.data_inputs(s, n),
            "ReadVariableOp" => match self.data_inputs(s, n)?.first() {
                Some(Val::Var(v)) => Ok(vec![Val::T(self.graph.read_variable(v))]),
                _ => Err(bad(format!("{at}: the input is not a variable handle"))),
            },
            "StatefulPartitionedCall" | "PartitionedCall" => self.call(s, n),
            "ParseExample" | "ParseExampleV2" => self.parse_example(s, n),
            _ => self.op(s, n),
        }
    }

    /// Inlines a function call: a new scope whose arguments are the call's inputs.
    fn call(&mut self, s: usize, n: &'a NodeDef) -> Result<Vec<Val>> {
        let at = self.at(n);
        let Some(attr_value::Value::Func(f)) = attr(n, "f") else {
            return Err(bad(format!("{at}: no function attribute 'f'")));
        };
        let func = *self
            .functions
            .get(f.name.as_str())
            .ok_or_else(|| bad(format!("{at}: function '{}' is not in the library", f.name)))?;
        let sig = func
            .signature
            .as_ref()
            .ok_or_else(|| bad(format!("{at}: function '{}' has no signature", f.name)))?;
        let inputs = self.data_inputs(s, n)?;
        if inputs.len() != sig.input_arg.len() {
            return Err(bad(format!(
                "{at}: {} inputs for function '{}' of {} arguments",
                inputs.len(),
                f.name,
                sig.input_arg.len()
            )));
        }
        if self.depth >= MAX_CALL_DEPTH {
            return Err(bad(format!("{at}: function calls nested too deeply")));
        }
        let args = sig
            .input_arg
            .iter()
            .map(|a| a.name.as_str())
            .zip(inputs)
            .collect();
        let nodes = func.node_def.iter().map(|d| (d.name.as_str(), d)).collect();
        self.scopes.push(Scope {
            func: Some(func),
            nodes,
            args,
        });
        let inner = self.scopes.len() - 1;
        self.depth += 1;
        let out = sig
            .output_arg
            .iter()
            .map(|o| {
                let r = func.ret.get(&o.name).ok_or_else(|| {
                    bad(format!(
                        "{at}: function '{}' does not return '{}'",
                        f.name, o.name
                    ))
                })?;
                self.input(inner, r)
            })
            .collect::<Result<Vec<_>>>();
        self.depth -= 1;
        out
    }

    /// A string list from a constant input.
    fn strings(&mut self, s: usize, r: &str, at: &str) -> Result<Vec<Vec<u8>>> {
        match self.input(s, r)? {
            Val::Strings(v) => Ok(v),
            _ => Err(bad(format!("{at}: input '{r}' must be a string constant"))),
        }
    }

    /// A constant's value by walking Const / Identity / Reshape nodes (dense defaults).
    fn const_tensor(&mut self, s: usize, r: &str, at: &str) -> Result<Tensor> {
        let v = self.input(s, r)?;
        let Val::T(o) = v else {
            return Err(bad(format!("{at}: input '{r}' must be a constant")));
        };
        self.fold(o)
            .ok_or_else(|| bad(format!("{at}: input '{r}' must be a constant")))
    }

    /// The value of `o` when it is a constant or a Reshape / Identity of one.
    fn fold(&self, o: Output) -> Option<Tensor> {
        let n = &self.graph.nodes[o.node];
        match &n.kind {
            NodeKind::Const(t) => Some(t.clone()),
            NodeKind::Op(def) if def.name == "Reshape" || def.name == "Identity" => {
                let t = self.fold(*n.inputs.first()?)?;
                let dims = n
                    .outputs
                    .first()?
                    .shape
                    .dims()
                    .iter()
                    .copied()
                    .collect::<Option<Vec<usize>>>()?;
                let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
                t.reshape(&dims).ok()
            }
            _ => None,
        }
    }

    fn parse_example(&mut self, s: usize, n: &'a NodeDef) -> Result<Vec<Val>> {
        let at = self.at(n);
        let inputs: Vec<&str> = n
            .input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(String::as_str)
            .collect();
        let serialized = match inputs.first() {
            Some(r) => self.input(s, r)?,
            None => return Err(bad(format!("{at}: no inputs"))),
        };
        let Val::Serialized(input) = serialized else {
            return Err(Error::unimplemented(
                WHAT,
                format!("{at}: parses examples that are not a signature input"),
            ));
        };
        let tdense = attr_types(n, "Tdense");
        let shapes: Vec<TensorShapeProto> = match attr(n, "dense_shapes") {
            Some(attr_value::Value::List(l)) => l.shape.clone(),
            _ => Vec::new(),
        };
        let nd = tdense.len();
        let (keys, defaults, sparse_keys, ragged) = if n.op == "ParseExampleV2" {
            // serialized, names, sparse_keys, dense_keys, ragged_keys, dense_defaults...
            if inputs.len() != 5 + nd {
                return Err(bad(format!(
                    "{at}: {} inputs for {nd} dense features",
                    inputs.len()
                )));
            }
            let sparse = self.strings(s, inputs[2], &at)?;
            let keys = self.strings(s, inputs[3], &at)?;
            let ragged = self.strings(s, inputs[4], &at)?;
            (keys, inputs[5..].to_vec(), sparse, ragged)
        } else {
            // serialized, names, sparse_keys (Nsparse), dense_keys (Ndense), dense_defaults.
            let ns = usize::try_from(attr_int(n, "Nsparse").unwrap_or(0)).unwrap_or(0);
            if inputs.len() != 2 + ns + 2 * nd {
                return Err(bad(format!(
                    "{at}: {} inputs for {ns} sparse and {nd} dense features",
                    inputs.len()
                )));
            }
            let mut sparse = Vec::new();
            for r in &inputs[2..2 + ns] {
                sparse.extend(self.strings(s, r, &at)?);
            }
            let mut keys = Vec::new();
            for r in &inputs[2 + ns..2 + ns + nd] {
                keys.extend(self.strings(s, r, &at)?);
            }
            (keys, inputs[2 + ns + nd..].to_vec(), sparse, Vec::new())
        };
        let name = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        if let Some(k) = sparse_keys.first().or(ragged.first()) {
            let kind = if sparse_keys.is_empty() {
                "ragged"
            } else {
                "sparse (VarLenFeature / SparseFeature)"
            };
            return Err(Error::unimplemented(
                WHAT,
                format!(
                    "signature '{}': input '{input}' parses feature '{}' as {kind}; only FixedLenFeature (dense) features are supported",
                    self.signature,
                    name(k)
                ),
            ));
        }
        if keys.len() != nd || shapes.len() != nd {
            return Err(bad(format!(
                "{at}: {} dense keys, {} shapes, {nd} types",
                keys.len(),
                shapes.len()
            )));
        }
        if self.example.as_ref().is_some_and(|e| e.input == input) {
            return Err(Error::unimplemented(
                WHAT,
                format!(
                    "signature '{}': input '{input}' is parsed by more than one ParseExample op",
                    self.signature
                ),
            ));
        }
        let mut features = Vec::with_capacity(nd);
        let mut outs = Vec::with_capacity(nd);
        for k in 0..nd {
            let fname = name(&keys[k]);
            let dtype = match dtype_of(tdense[k]) {
                Some(d @ (DType::F32 | DType::I64)) => d,
                _ => {
                    return Err(Error::unimplemented(
                        WHAT,
                        format!(
                            "signature '{}': feature '{fname}' of input '{input}' is {}; only float and int64 features can be served (tf-core has no string dtype)",
                            self.signature,
                            type_name(tdense[k])
                        ),
                    ));
                }
            };
            let shape = shape_of(Some(&shapes[k])).ok_or_else(|| {
                Error::unimplemented(
                    WHAT,
                    format!(
                        "signature '{}': feature '{fname}' of input '{input}' has a variable length (FixedLenSequenceFeature); only fixed-length features are supported",
                        self.signature
                    ),
                )
            })?;
            let d = self.const_tensor(s, defaults[k], &at)?;
            let per: usize = shape.iter().product();
            let default = match d.num_elements() {
                0 => None,
                m if m == per && d.dtype() == dtype => {
                    let dims: Vec<i64> = shape.iter().map(|&x| x as i64).collect();
                    Some(d.reshape(&dims)?)
                }
                m => {
                    return Err(bad(format!(
                        "{at}: feature '{fname}': default of {m} {} values for shape {shape:?} of {}",
                        d.dtype(),
                        dtype
                    )));
                }
            };
            let mut dims: Vec<Option<usize>> = vec![None];
            dims.extend(shape.iter().map(|&x| Some(x)));
            let spec = TensorSpec::new(dtype, PartialShape::from(dims));
            outs.push(Val::T(self.graph.placeholder(spec.clone())));
            self.args.push((fname.clone(), spec));
            features.push(FeatureSpec {
                name: fname,
                dtype,
                shape,
                default,
            });
        }
        self.example = Some(ExampleInput { input, features });
        Ok(outs)
    }

    /// A shape built at run time as `Pack(a, b, ...)` of scalars (Keras's Flatten packs
    /// the batch size taken from `Shape` with constants): the `Const` elements' values,
    /// and -1 for the one element that is not a constant (Reshape infers it). `None`
    /// otherwise. Nothing is imported.
    fn packed_shape(&self, s: usize, r: &str) -> Option<Vec<i64>> {
        let nodes = &self.scopes[s].nodes;
        let node = *nodes.get(split_ref(r).0)?;
        if node.op != "Pack" {
            return None;
        }
        let mut out = Vec::with_capacity(node.input.len());
        for i in node.input.iter().filter(|i| !i.starts_with('^')) {
            let value = nodes
                .get(split_ref(i).0)
                .filter(|d| d.op == "Const")
                .and_then(|d| match attr(d, "value") {
                    Some(attr_value::Value::Tensor(t)) => tensor_from_proto(t, "").ok(),
                    _ => None,
                })
                .and_then(|c| match c {
                    ConstValue::Tensor(t) if t.num_elements() == 1 => match t.dtype() {
                        DType::I32 => t.scalar::<i32>().ok().map(i64::from),
                        DType::I64 => t.scalar::<i64>().ok(),
                        _ => None,
                    },
                    _ => None,
                });
            out.push(value.unwrap_or(-1));
        }
        (out.iter().filter(|&&d| d == -1).count() <= 1).then_some(out)
    }

    /// Integers of a constant input.
    /// The first value of a constant int input (an axis): errors when it is empty.
    fn const_axis(&mut self, s: usize, r: &str, at: &str) -> Result<i64> {
        self.const_ints(s, r, at)?
            .first()
            .copied()
            .ok_or_else(|| bad(format!("{at}: empty axis")))
    }

    fn const_ints(&mut self, s: usize, r: &str, at: &str) -> Result<Vec<i64>> {
        let t = self.const_tensor(s, r, at)?;
        match t.dtype() {
            DType::I32 => Ok(t.to_vec::<i32>()?.into_iter().map(i64::from).collect()),
            DType::I64 => t.to_vec::<i64>(),
            d => Err(bad(format!(
                "{at}: input '{r}' must be int32 or int64, is {d}"
            ))),
        }
    }

    /// A tf-core op: TensorFlow's attributes and constant inputs translated.
    fn op(&mut self, s: usize, n: &'a NodeDef) -> Result<Vec<Val>> {
        let at = self.at(n);
        let refs: Vec<&'a str> = n
            .input
            .iter()
            .filter(|i| !i.starts_with('^'))
            .map(String::as_str)
            .collect();
        let mut attrs = Attrs::new();
        // Attributes tf-core names as TensorFlow does (Conv2D's strides and padding,
        // MaxPool's ksize, GatherV2's batch_dims, ...) pass through; the translations
        // below override or add.
        for (k, a) in &n.attr {
            if k.starts_with('_') || k == "T" {
                continue;
            }
            let v = match &a.value {
                Some(attr_value::Value::I(i)) => AttrValue::Int(*i),
                Some(attr_value::Value::F(f)) => AttrValue::Float(f64::from(*f)),
                Some(attr_value::Value::B(b)) => AttrValue::Bool(*b),
                Some(attr_value::Value::S(b)) => {
                    AttrValue::Str(String::from_utf8_lossy(b).into_owned().into())
                }
                Some(attr_value::Value::Type(t)) => match dtype_of(*t) {
                    Some(d) => AttrValue::DType(d),
                    None => continue,
                },
                Some(attr_value::Value::List(l)) if !l.i.is_empty() => AttrValue::Ints(l.i.clone()),
                Some(attr_value::Value::List(l)) if !l.f.is_empty() => {
                    AttrValue::Floats(l.f.iter().map(|&x| f64::from(x)).collect())
                }
                _ => continue,
            };
            attrs.set(k.clone(), v);
        }
        // TensorFlow leaves attributes at their default out of saved NodeDefs.
        let defaults: &[(&str, AttrValue)] = match n.op.as_str() {
            "Cumsum" | "Cumprod" => &[
                ("exclusive", AttrValue::Bool(false)),
                ("reverse", AttrValue::Bool(false)),
            ],
            "TopKV2" => &[("sorted", AttrValue::Bool(true))],
            "OneHot" => &[("axis", AttrValue::Int(-1))],
            "Pack" | "Unpack" => &[("axis", AttrValue::Int(0))],
            "GatherV2" => &[("batch_dims", AttrValue::Int(0))],
            _ => &[],
        };
        for (k, v) in defaults {
            if !n.attr.contains_key(*k) {
                attrs.set(k.to_string(), v.clone());
            }
        }
        // How many leading inputs are tensors (the rest become attributes), and which.
        let mut tensor_inputs = refs.len();
        let mut keep = vec![true; refs.len()];
        let op_name = match n.op.as_str() {
            "Add" => "AddV2",
            "BatchMatMul" | "BatchMatMulV3" => "BatchMatMulV2",
            o => o,
        };
        match op_name {
            "MatMul" => {
                attrs.set("transpose_a", AttrValue::Bool(attr_bool(n, "transpose_a")));
                attrs.set("transpose_b", AttrValue::Bool(attr_bool(n, "transpose_b")));
            }
            "BatchMatMulV2" => {
                attrs.set("adj_x", AttrValue::Bool(attr_bool(n, "adj_x")));
                attrs.set("adj_y", AttrValue::Bool(attr_bool(n, "adj_y")));
            }
            "Cast" => {
                let t = match attr(n, "DstT") {
                    Some(attr_value::Value::Type(t)) => *t,
                    _ => 0,
                };
                let d =
                    dtype_of(t).ok_or_else(|| bad(format!("{at}: cast to {}", type_name(t))))?;
                attrs.set("DstT", AttrValue::DType(d));
            }
            "Reshape" | "BroadcastTo" => {
                tensor_inputs = 1;
                let r = refs.get(1).copied().unwrap_or("");
                let v = match self.packed_shape(s, r) {
                    Some(v) => v,
                    None => self.const_ints(s, r, &at)?,
                };
                attrs.set("shape".to_string(), AttrValue::Ints(v));
            }
            "Transpose" => {
                tensor_inputs = 1;
                let v = self.const_ints(s, refs.get(1).copied().unwrap_or(""), &at)?;
                attrs.set("perm".to_string(), AttrValue::Ints(v));
            }
            "ExpandDims" => {
                tensor_inputs = 1;
                let axis = self.const_axis(s, refs.get(1).copied().unwrap_or(""), &at)?;
                attrs.set("axis".to_string(), AttrValue::Int(axis));
            }
            "Squeeze" => {
                let dims = match attr(n, "squeeze_dims") {
                    Some(attr_value::Value::List(l)) => l.i.clone(),
                    _ => Vec::new(),
                };
                attrs.set("squeeze_dims", AttrValue::Ints(dims));
            }
            "Sum" | "Mean" | "Max" | "Min" | "Prod" | "All" | "Any" => {
                tensor_inputs = 1;
                let v = self.const_ints(s, refs.get(1).copied().unwrap_or(""), &at)?;
                attrs.set("axis".to_string(), AttrValue::Ints(v));
                attrs.set(
                    "keepdims".to_string(),
                    AttrValue::Bool(attr_bool(n, "keep_dims")),
                );
            }
            "ArgMax" | "ArgMin" => {
                tensor_inputs = 1;
                let axis = self.const_axis(s, refs.get(1).copied().unwrap_or(""), &at)?;
                attrs.set("axis".to_string(), AttrValue::Int(axis));
                let t = match attr(n, "output_type") {
                    Some(attr_value::Value::Type(t)) => *t,
                    _ => 9,
                };
                let d = dtype_of(t)
                    .ok_or_else(|| bad(format!("{at}: output_type {}", type_name(t))))?;
                attrs.set("output_type".to_string(), AttrValue::DType(d));
            }
            "ConcatV2" => {
                tensor_inputs = refs.len().saturating_sub(1);
                let axis = self.const_axis(s, refs.last().copied().unwrap_or(""), &at)?;
                attrs.set("axis".to_string(), AttrValue::Int(axis));
            }
            "StridedSlice" => {
                tensor_inputs = 1;
                for (k, key) in ["begin", "end", "strides"].into_iter().enumerate() {
                    let v = self.const_ints(s, refs.get(k + 1).copied().unwrap_or(""), &at)?;
                    attrs.set(key.to_string(), AttrValue::Ints(v));
                }
                for key in [
                    "begin_mask",
                    "end_mask",
                    "ellipsis_mask",
                    "new_axis_mask",
                    "shrink_axis_mask",
                ] {
                    attrs.set(
                        key.to_string(),
                        AttrValue::Int(attr_int(n, key).unwrap_or(0)),
                    );
                }
            }
            "BiasAdd" => {
                let f = match attr(n, "data_format") {
                    Some(attr_value::Value::S(s)) => String::from_utf8_lossy(s).into_owned(),
                    _ => "NHWC".to_string(),
                };
                attrs.set("data_format".to_string(), AttrValue::Str(f.into()));
            }
            "LeakyRelu" => {
                let a = match attr(n, "alpha") {
                    Some(attr_value::Value::F(f)) => f64::from(*f),
                    _ => 0.2,
                };
                attrs.set("alpha".to_string(), AttrValue::Float(a));
            }
            // Inputs tf-core takes as attributes, one constant each: (input, attribute,
            // scalar). TensorFlow's other attributes passed through above.
            _ => {
                let moved: &[(usize, &str, bool)] = match op_name {
                    "GatherV2" => &[(2, "axis", true)],
                    "Tile" => &[(1, "multiples", false)],
                    "Pad" | "PadV2" | "MirrorPad" => &[(1, "paddings", false)],
                    "ReverseV2" => &[(1, "axis", false)],
                    "Slice" => &[(1, "begin", false), (2, "size", false)],
                    "Split" => &[(0, "axis", true)],
                    "SplitV" => &[(1, "size_splits", false), (2, "axis", true)],
                    "OneHot" => &[(1, "depth", true)],
                    "Cumsum" | "Cumprod" => &[(1, "axis", true)],
                    "TopKV2" => &[(1, "k", true)],
                    _ => &[],
                };
                for &(i, key, scalar) in moved {
                    let r = refs.get(i).copied().unwrap_or("");
                    let v = self.const_ints(s, r, &at)?;
                    let value = if scalar {
                        match v.as_slice() {
                            [x] => AttrValue::Int(*x),
                            _ => return Err(bad(format!("{at}: input '{r}' must be a scalar"))),
                        }
                    } else {
                        AttrValue::Ints(v)
                    };
                    attrs.set(key.to_string(), value);
                    if let Some(k) = keep.get_mut(i) {
                        *k = false;
                    }
                }
            }
        }
        let mut ins = Vec::with_capacity(tensor_inputs);
        let kept = refs
            .iter()
            .zip(&keep)
            .take(tensor_inputs)
            .filter(|(_, k)| **k)
            .map(|(r, _)| r);
        for r in kept {
            match self.input(s, r)? {
                Val::T(o) => ins.push(o),
                Val::Serialized(name) => {
                    return Err(Error::unimplemented(
                        WHAT,
                        format!(
                            "{at}: consumes the DT_STRING input '{name}'; only ParseExample / ParseExampleV2 may (tf-core has no string dtype)"
                        ),
                    ));
                }
                Val::Strings(_) => {
                    return Err(Error::unimplemented(
                        WHAT,
                        format!("{at}: consumes a string constant (tf-core has no string dtype)"),
                    ));
                }
                Val::Var(_) => {
                    return Err(bad(format!("{at}: input '{r}' is not a tensor")));
                }
            }
        }
        let def = lookup_op(op_name).ok_or_else(|| {
            Error::unimplemented(WHAT, format!("{at}: op '{}' is not supported", n.op))
        })?;
        let outs = self
            .graph
            .op(def, &ins, attrs)
            .map_err(|e| bad(format!("{at}: {e}")))?;
        Ok(outs.into_iter().map(Val::T).collect())
    }
}

/// Maps each variable handle of the outer graph to its checkpoint key by reading the
/// restore path: `AssignVariableOp(handle, Identity*(RestoreV2:k))` with RestoreV2's
/// `tensor_names` constant, in the outer graph (TF1) or in the restore function the
/// saver's `restore_op_name` calls (TF2).
fn variable_keys(
    outer: &HashMap<&str, &NodeDef>,
    functions: &HashMap<&str, &FunctionDef>,
    restore_op: &str,
) -> HashMap<String, String> {
    let mut keys = HashMap::new();
    // Scopes to scan: the outer graph, and the restore function with its arg -> handle map.
    let mut scopes: Vec<(HashMap<&str, &NodeDef>, HashMap<String, String>)> =
        vec![(outer.clone(), HashMap::new())];
    let restore_name = restore_op.split(':').next().unwrap_or("");
    if let Some(call) = outer.get(restore_name)
        && let Some(attr_value::Value::Func(f)) = attr(call, "f")
        && let Some(func) = functions.get(f.name.as_str())
        && let Some(sig) = &func.signature
    {
        let ins: Vec<&String> = call.input.iter().filter(|i| !i.starts_with('^')).collect();
        let args = sig
            .input_arg
            .iter()
            .zip(ins)
            .map(|(a, i)| (a.name.clone(), split_ref(i).0.to_string()))
            .collect();
        scopes.push((
            func.node_def.iter().map(|d| (d.name.as_str(), d)).collect(),
            args,
        ));
    }
    for (nodes, args) in &scopes {
        for n in nodes.values() {
            if n.op != "AssignVariableOp" || n.input.len() < 2 {
                continue;
            }
            let handle = args
                .get(&n.input[0])
                .cloned()
                .unwrap_or_else(|| split_ref(&n.input[0]).0.to_string());
            // Follow Identity nodes to RestoreV2.
            let mut r = n.input[1].as_str();
            let mut found = None;
            for _ in 0..16 {
                let (name, arg, k) = split_ref(r);
                let Some(src) = nodes.get(name) else { break };
                match src.op.as_str() {
                    "Identity" => match src.input.first() {
                        Some(i) => r = i,
                        None => break,
                    },
                    "RestoreV2" => {
                        let _ = arg;
                        found = Some((*src, k));
                        break;
                    }
                    _ => break,
                }
            }
            let Some((restore, k)) = found else { continue };
            let Some(names_ref) = restore.input.get(1) else {
                continue;
            };
            let Some(names) = nodes.get(split_ref(names_ref).0) else {
                continue;
            };
            if let Some(attr_value::Value::Tensor(t)) = attr(names, "value")
                && let Some(key) = t.string_val.get(k)
            {
                keys.insert(handle, String::from_utf8_lossy(key).into_owned());
            }
        }
    }
    keys
}

/// Loads a SavedModel directory written by TensorFlow (`saved_model.pb`): the MetaGraph
/// tagged `serve` (or the only one), each of its signatures as a function.
pub(super) fn load(dir: &Path, pipeline: &Pipeline) -> Result<SavedModel> {
    let pb = dir.join("saved_model.pb");
    let meta =
        std::fs::metadata(&pb).map_err(|e| Error::io(format!("reading {}", pb.display()), e))?;
    if meta.len() > MAX_PB_BYTES {
        return Err(bad(format!(
            "{}: {} bytes is too large",
            pb.display(),
            meta.len()
        )));
    }
    let bytes =
        std::fs::read(&pb).map_err(|e| Error::io(format!("reading {}", pb.display()), e))?;
    let sm = proto::SavedModel::decode(bytes.as_slice()).map_err(|e| {
        Error::format(
            pb.display().to_string(),
            format!("not a SavedModel proto: {e}"),
        )
    })?;
    let mg = sm
        .meta_graphs
        .iter()
        .find(|m| {
            m.meta_info_def
                .as_ref()
                .is_some_and(|i| i.tags.iter().any(|t| t == "serve"))
        })
        .or(sm.meta_graphs.first())
        .ok_or_else(|| Error::format(pb.display().to_string(), "no MetaGraph"))?;
    let empty = proto::GraphDef::default();
    let gd = mg.graph_def.as_ref().unwrap_or(&empty);
    let outer: HashMap<&str, &NodeDef> = gd.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let functions: HashMap<&str, &FunctionDef> = gd
        .library
        .iter()
        .flat_map(|l| &l.function)
        .filter_map(|f| f.signature.as_ref().map(|s| (s.name.as_str(), f)))
        .collect();
    let restore_op = mg
        .saver_def
        .as_ref()
        .map(|s| s.restore_op_name.as_str())
        .unwrap_or("");
    let var_keys = variable_keys(&outer, &functions, restore_op);
    let bundle = Bundle::open(&dir.join("variables").join("variables"))?;
    let mut signatures = BTreeMap::new();
    let mut variables: Vec<Variable> = Vec::new();
    let mut shared_vars: HashMap<String, Variable> = HashMap::new();
    let mut names: Vec<&String> = mg.signature_def.keys().collect();
    names.sort();
    for name in names {
        if name.starts_with("__") {
            continue; // __saved_model_init_op and the like
        }
        let sd = &mg.signature_def[name];
        let mut imp = Importer {
            vars: std::mem::take(&mut shared_vars),
            functions: functions.clone(),
            scopes: vec![Scope {
                func: None,
                nodes: outer.clone(),
                args: HashMap::new(),
            }],
            memo: HashMap::new(),
            var_keys: var_keys.clone(),
            bundle: &bundle,
            graph: Graph::new(),
            inputs: HashMap::new(),
            args: Vec::new(),
            example: None,
            depth: 0,
            edge_depth: 0,
            signature: name.clone(),
        };
        let mut in_names: Vec<&String> = sd.inputs.keys().collect();
        in_names.sort();
        for k in in_names {
            let ti = &sd.inputs[k];
            let node = split_ref(&ti.name).0.to_string();
            let v = if ti.dtype == DT_STRING {
                Val::Serialized(k.clone())
            } else {
                let dtype = dtype_of(ti.dtype).ok_or_else(|| {
                    Error::unimplemented(
                        WHAT,
                        format!("signature '{name}': input '{k}' is {}", type_name(ti.dtype)),
                    )
                })?;
                let shape = partial_shape(ti.tensor_shape.as_ref()).ok_or_else(|| {
                    Error::unimplemented(
                        WHAT,
                        format!("signature '{name}': input '{k}' has an unknown rank"),
                    )
                })?;
                let spec = TensorSpec::new(dtype, shape);
                imp.args.push((k.clone(), spec.clone()));
                Val::T(imp.graph.placeholder(spec))
            };
            imp.inputs.insert(node, v);
        }
        let mut out_names: Vec<&String> = sd.outputs.keys().collect();
        out_names.sort();
        let mut results = Vec::new();
        let mut outputs = Vec::new();
        for k in out_names {
            let ti = &sd.outputs[k];
            if ti.dtype == DT_STRING {
                // tf-core cannot compute strings (a classifier's `classes` labels, say):
                // the signature is served without this output.
                tracing::warn!(
                    target: "tf_graph::saved_model",
                    signature = name.as_str(),
                    output = k.as_str(),
                    "DT_STRING output left out of the imported signature (tf-core has no string dtype)"
                );
                continue;
            }
            let (node, _, idx) = split_ref(&ti.name);
            let v = imp.eval(0, node)?.get(idx).cloned();
            let Some(Val::T(o)) = v else {
                return Err(Error::unimplemented(
                    WHAT,
                    format!(
                        "signature '{name}': output '{k}' ({}) is not a numeric tensor",
                        type_name(ti.dtype)
                    ),
                ));
            };
            outputs.push((k.clone(), imp.graph.spec(o).clone()));
            results.push(o);
        }
        if let Some(input) = sd
            .inputs
            .iter()
            .find(|(k, ti)| {
                ti.dtype == DT_STRING && imp.example.as_ref().is_none_or(|e| &e.input != *k)
            })
            .map(|(k, _)| k)
        {
            return Err(Error::unimplemented(
                WHAT,
                format!(
                    "signature '{name}': input '{input}' is DT_STRING and not parsed by ParseExample (tf-core has no string dtype)"
                ),
            ));
        }
        shared_vars = std::mem::take(&mut imp.vars);
        imp.graph.set_outputs(results);
        imp.graph.validate()?;
        for v in shared_vars.values() {
            if !variables.iter().any(|x| x.same_as(v)) {
                variables.push(v.clone());
            }
        }
        let def = SignatureDef {
            inputs: imp.args,
            outputs,
            method_name: sd.method_name.clone(),
        };
        let function = ConcreteFunction::from_graph(name, imp.graph, pipeline)?;
        signatures.insert(
            name.clone(),
            LoadedSignature {
                def,
                function,
                example: imp.example,
            },
        );
    }
    if signatures.is_empty() {
        return Err(Error::format(
            pb.display().to_string(),
            "the SavedModel has no signatures",
        ));
    }
    Ok(SavedModel {
        signatures,
        variables,
    })
}
