//! Building a [`LayerGraph`] from a tf-keras [`Model`](tf_keras::Model) (a `.keras` file loaded with
//! [`tf_keras::load_model`]): the structure comes from the model's Keras config (layer
//! classes, configs and, for functional models, `inbound_nodes`), the weights from the
//! layers' variables.
//!
//! Supported Keras classes: `InputLayer`, `Dense`, `Conv2D`, `DepthwiseConv2D`,
//! `MaxPooling2D`, `AveragePooling2D`, `GlobalAveragePooling2D`, `BatchNormalization`,
//! `Activation`, `ReLU`, `LeakyReLU`, `Softmax`, `Flatten`, `Reshape`, `Add`,
//! `Concatenate`, `Dropout`. Anything else (or an option the converter cannot express,
//! such as `channels_first` or a shared layer) is an [`Error::Unsupported`] naming the
//! layer and its class.

use super::graph::{Activation, InputSpec, Layer, LayerGraph, LayerKind, Padding};
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::collections::HashMap;
use tf_core::Tensor;

/// Loads a `.keras` file with tf-keras and describes it as a [`LayerGraph`].
///
/// Errors: the loader's errors (missing file, bad archive) and those of [`layer_graph`].
pub fn load_keras(path: impl AsRef<std::path::Path>) -> Result<LayerGraph> {
    let model = tf_keras::load_model(path)?;
    layer_graph(&model)
}

fn unsupported(layer: &str, class: &str, what: impl std::fmt::Display) -> Error {
    Error::unsupported(format!("layer '{layer}' ({class}): {what}"))
}

fn bad(layer: &str, class: &str, what: impl std::fmt::Display) -> Error {
    Error::invalid("convert", format!("layer '{layer}' ({class}): {what}"))
}

/// Describes a built tf-keras model (Sequential or functional) as a [`LayerGraph`].
///
/// Errors: [`Error::Unsupported`] naming the first layer (and Keras class) the converter
/// cannot express; [`Error::InvalidArgument`] when the model's input shape is unknown
/// (an unbuilt Sequential model) or its config is inconsistent.
pub fn layer_graph(model: &tf_keras::Model) -> Result<LayerGraph> {
    let config = tf_keras::saving::model_to_config(model)?;
    let cfg = config
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid("convert", "model config without 'config'"))?;
    let entries = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::invalid("convert", "model config without 'layers'"))?;
    let mut weights: HashMap<String, Vec<(String, Tensor)>> = HashMap::new();
    for l in model.layers() {
        let g = l.read()?;
        let mut ws = Vec::new();
        for v in g.weights() {
            // `layer/kernel`, or `layer/kernel_N` when the process already had a
            // variable of that name.
            let short = v.name().rsplit('/').next().unwrap_or("");
            let short = match short.rsplit_once('_') {
                Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
                _ => short,
            }
            .to_string();
            ws.push((short, v.read()?));
        }
        weights.insert(g.name().to_string(), ws);
    }
    let mut graph = LayerGraph::default();
    if model.is_sequential() {
        let mut prev: Option<String> = None;
        for e in entries {
            let (class, lc, name) = entry(e)?;
            if class == "InputLayer" {
                graph.inputs.push(input_spec(&name, lc)?);
                prev = Some(name);
                continue;
            }
            let input = match prev.take() {
                Some(p) => p,
                None => {
                    let shapes = model.input_shapes();
                    let shape = shapes.first().ok_or_else(|| {
                        Error::invalid(
                            "convert",
                            "the Sequential model has no known input shape (build it first)",
                        )
                    })?;
                    let dims = shape_dims("input", "InputLayer", shape.dims())?;
                    graph.inputs.push(InputSpec {
                        name: "input".into(),
                        shape: dims,
                    });
                    "input".to_string()
                }
            };
            let ws = weights.get(&name).cloned().unwrap_or_default();
            graph.layers.push(Layer {
                kind: layer_kind(&name, class, lc, &ws)?,
                name: name.clone(),
                inputs: vec![input],
            });
            prev = Some(name);
        }
        let out = prev.ok_or_else(|| Error::invalid("convert", "the model has no layers"))?;
        graph.outputs.push(out);
    } else {
        let mut input_names = Vec::new();
        for e in entries {
            let (class, lc, name) = entry(e)?;
            if class == "InputLayer" {
                graph.inputs.push(input_spec(&name, lc)?);
                input_names.push(name);
                continue;
            }
            let nodes = e
                .get("inbound_nodes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if nodes.len() != 1 {
                return Err(unsupported(
                    &name,
                    class,
                    format!(
                        "called {} times (shared layers are not supported)",
                        nodes.len()
                    ),
                ));
            }
            let mut inputs = Vec::new();
            collect_history(&nodes[0], &mut inputs);
            if inputs.is_empty() {
                return Err(bad(&name, class, "no inbound tensors in its config"));
            }
            let ws = weights.get(&name).cloned().unwrap_or_default();
            graph.layers.push(Layer {
                kind: layer_kind(&name, class, lc, &ws)?,
                name,
                inputs,
            });
        }
        let outs = cfg
            .get("output_layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for o in outs {
            let n = o
                .get(0)
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid("convert", format!("bad output_layers entry {o}")))?;
            graph.outputs.push(n.to_string());
        }
        // Functional configs list layers in creation order; the converter needs every
        // layer after its inputs.
        graph.layers = topo_sort(std::mem::take(&mut graph.layers), &input_names)?;
    }
    Ok(graph)
}

fn entry(e: &Value) -> Result<(&str, &Map<String, Value>, String)> {
    let class = e
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("convert", "a layer entry without class_name"))?;
    let lc = e
        .get("config")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid("convert", format!("layer {class} without config")))?;
    let name = e
        .get("name")
        .or_else(|| lc.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid("convert", format!("layer {class} without name")))?;
    Ok((class, lc, name.to_string()))
}

fn collect_history(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") {
                if let Some(n) = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(|h| h.get(0))
                    .and_then(Value::as_str)
                {
                    out.push(n.to_string());
                }
                return;
            }
            if let Some(a) = m.get("args") {
                collect_history(a, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_history(x, out)),
        _ => {}
    }
}

fn topo_sort(mut layers: Vec<Layer>, inputs: &[String]) -> Result<Vec<Layer>> {
    let mut done: std::collections::HashSet<String> = inputs.iter().cloned().collect();
    let mut out = Vec::with_capacity(layers.len());
    while !layers.is_empty() {
        let Some(i) = layers
            .iter()
            .position(|l| l.inputs.iter().all(|x| done.contains(x)))
        else {
            let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
            return Err(Error::invalid(
                "convert",
                format!("layers {names:?} read tensors no input reaches"),
            ));
        };
        let l = layers.remove(i);
        done.insert(l.name.clone());
        out.push(l);
    }
    Ok(out)
}

fn shape_dims(layer: &str, class: &str, dims: &[Option<usize>]) -> Result<Vec<usize>> {
    dims.iter()
        .skip(1)
        .map(|d| {
            d.ok_or_else(|| {
                unsupported(
                    layer,
                    class,
                    format!("input dimensions {dims:?}: only the batch may be unknown"),
                )
            })
        })
        .collect()
}

fn input_spec(name: &str, lc: &Map<String, Value>) -> Result<InputSpec> {
    let shape = lc
        .get("batch_shape")
        .or_else(|| lc.get("batch_input_shape"))
        .and_then(Value::as_array)
        .ok_or_else(|| bad(name, "InputLayer", "no batch_shape"))?;
    let dims: Vec<Option<usize>> = shape
        .iter()
        .map(|d| d.as_u64().map(|v| v as usize))
        .collect();
    if let Some(dt) = lc.get("dtype") {
        let s = dt.as_str().or_else(|| {
            dt.get("config")
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
        });
        if let Some(s) = s
            && s != "float32"
        {
            return Err(unsupported(
                name,
                "InputLayer",
                format!("input dtype {s} (float32 only)"),
            ));
        }
    }
    Ok(InputSpec {
        name: name.to_string(),
        shape: shape_dims(name, "InputLayer", &dims)?,
    })
}

fn pair(lc: &Map<String, Value>, key: &str, default: usize) -> (usize, usize) {
    match lc.get(key) {
        Some(Value::Array(a)) => {
            let g = |i: usize| {
                a.get(i)
                    .and_then(Value::as_u64)
                    .map_or(default, |v| v as usize)
            };
            (g(0), g(1))
        }
        Some(v) => {
            let x = v.as_u64().map_or(default, |v| v as usize);
            (x, x)
        }
        None => (default, default),
    }
}

fn padding(name: &str, class: &str, lc: &Map<String, Value>) -> Result<Padding> {
    match lc.get("padding").and_then(Value::as_str).unwrap_or("valid") {
        "valid" => Ok(Padding::Valid),
        "same" => Ok(Padding::Same),
        p => Err(unsupported(name, class, format!("padding '{p}'"))),
    }
}

fn channels_last(name: &str, class: &str, lc: &Map<String, Value>) -> Result<()> {
    match lc.get("data_format").and_then(Value::as_str) {
        None | Some("channels_last") => Ok(()),
        Some(f) => Err(unsupported(
            name,
            class,
            format!("data_format '{f}' (channels_last only)"),
        )),
    }
}

fn activation(name: &str, class: &str, v: Option<&Value>) -> Result<Activation> {
    let a = match v {
        None => tf_keras::Activation::Linear,
        Some(v) => tf_keras::Activation::from_config(v)
            .map_err(|e| unsupported(name, class, format!("activation: {e}")))?,
    };
    use tf_keras::Activation as K;
    Ok(match a {
        K::Linear => Activation::Linear,
        K::Relu => Activation::Relu,
        K::Relu6 => Activation::Relu6,
        K::Sigmoid => Activation::Sigmoid,
        K::Tanh => Activation::Tanh,
        K::Softmax => Activation::Softmax,
        K::Gelu { approximate } => Activation::Gelu { approximate },
        K::LeakyRelu { negative_slope } => Activation::LeakyRelu {
            alpha: negative_slope as f32,
        },
        other => {
            return Err(unsupported(
                name,
                class,
                format!("activation '{}' has no TFLite builtin here", other.name()),
            ));
        }
    })
}

fn weight(name: &str, class: &str, ws: &[(String, Tensor)], key: &str) -> Result<Tensor> {
    ws.iter()
        .find(|(n, _)| n == key)
        .map(|(_, t)| t.clone())
        .ok_or_else(|| {
            let have: Vec<&str> = ws.iter().map(|(n, _)| n.as_str()).collect();
            bad(
                name,
                class,
                format!("no '{key}' weight among {have:?} (is the model built?)"),
            )
        })
}

fn opt_weight(ws: &[(String, Tensor)], key: &str) -> Option<Tensor> {
    ws.iter().find(|(n, _)| n == key).map(|(_, t)| t.clone())
}

fn f64_of(lc: &Map<String, Value>, key: &str) -> Option<f64> {
    lc.get(key).and_then(Value::as_f64)
}

fn layer_kind(
    name: &str,
    class: &str,
    lc: &Map<String, Value>,
    ws: &[(String, Tensor)],
) -> Result<LayerKind> {
    let act = |k: &str| activation(name, class, lc.get(k));
    Ok(match class {
        "Dense" => LayerKind::Dense {
            kernel: weight(name, class, ws, "kernel")?,
            bias: opt_weight(ws, "bias"),
            activation: act("activation")?,
        },
        "Conv2D" | "DepthwiseConv2D" => {
            channels_last(name, class, lc)?;
            if lc.get("groups").and_then(Value::as_u64).unwrap_or(1) != 1 {
                return Err(unsupported(name, class, "groups > 1"));
            }
            let kernel = match opt_weight(ws, "kernel") {
                Some(k) => k,
                None => weight(name, class, ws, "depthwise_kernel")?,
            };
            let (kernel, bias, strides, padding, dilation, activation) = (
                kernel,
                opt_weight(ws, "bias"),
                pair(lc, "strides", 1),
                padding(name, class, lc)?,
                pair(lc, "dilation_rate", 1),
                act("activation")?,
            );
            if class == "Conv2D" {
                LayerKind::Conv2D {
                    kernel,
                    bias,
                    strides,
                    padding,
                    dilation,
                    activation,
                }
            } else {
                LayerKind::DepthwiseConv2D {
                    kernel,
                    bias,
                    strides,
                    padding,
                    dilation,
                    activation,
                }
            }
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            channels_last(name, class, lc)?;
            let pool = pair(lc, "pool_size", 2);
            let strides = match lc.get("strides") {
                None | Some(Value::Null) => pool,
                Some(_) => pair(lc, "strides", 1),
            };
            let padding = padding(name, class, lc)?;
            if class == "MaxPooling2D" {
                LayerKind::MaxPool2D {
                    pool,
                    strides,
                    padding,
                }
            } else {
                LayerKind::AveragePool2D {
                    pool,
                    strides,
                    padding,
                }
            }
        }
        "GlobalAveragePooling2D" => {
            channels_last(name, class, lc)?;
            if lc.get("keepdims").and_then(Value::as_bool).unwrap_or(false) {
                return Err(unsupported(name, class, "keepdims=True"));
            }
            LayerKind::GlobalAveragePool2D
        }
        "BatchNormalization" => {
            let axis = lc.get("axis").and_then(Value::as_i64).unwrap_or(-1);
            if axis != -1 {
                let ok = lc
                    .get("axis")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.len() == 1 && a[0].as_i64() == Some(-1));
                if !ok {
                    return Err(unsupported(
                        name,
                        class,
                        format!("axis {axis} (last axis only)"),
                    ));
                }
            }
            let mean = weight(name, class, ws, "moving_mean")?;
            let n = mean.shape().num_elements();
            let ones = || Tensor::from_vec(vec![1f32; n], [n]);
            let zeros = || Tensor::from_vec(vec![0f32; n], [n]);
            LayerKind::BatchNormalization {
                gamma: match opt_weight(ws, "gamma") {
                    Some(g) => g,
                    None => ones()?,
                },
                beta: match opt_weight(ws, "beta") {
                    Some(b) => b,
                    None => zeros()?,
                },
                mean,
                variance: weight(name, class, ws, "moving_variance")?,
                epsilon: f64_of(lc, "epsilon").unwrap_or(1e-3) as f32,
            }
        }
        "Activation" => LayerKind::Activation(act("activation")?),
        "ReLU" => {
            let max = f64_of(lc, "max_value");
            let slope = f64_of(lc, "negative_slope").unwrap_or(0.0);
            let threshold = f64_of(lc, "threshold").unwrap_or(0.0);
            if threshold != 0.0 {
                return Err(unsupported(name, class, "threshold != 0"));
            }
            LayerKind::Activation(match (max, slope) {
                (None, 0.0) => Activation::Relu,
                (Some(m), s) if m == 6.0 && s == 0.0 => Activation::Relu6,
                (None, s) => Activation::LeakyRelu { alpha: s as f32 },
                (Some(m), s) => {
                    return Err(unsupported(
                        name,
                        class,
                        format!("max_value {m} with negative_slope {s}"),
                    ));
                }
            })
        }
        "LeakyReLU" => LayerKind::Activation(Activation::LeakyRelu {
            alpha: f64_of(lc, "negative_slope")
                .or_else(|| f64_of(lc, "alpha"))
                .unwrap_or(0.3) as f32,
        }),
        "Softmax" => {
            let axis = lc.get("axis").and_then(Value::as_i64).unwrap_or(-1);
            if axis != -1 {
                return Err(unsupported(
                    name,
                    class,
                    format!("axis {axis} (last axis only)"),
                ));
            }
            LayerKind::Activation(Activation::Softmax)
        }
        "Flatten" => {
            channels_last(name, class, lc)?;
            LayerKind::Flatten
        }
        "Reshape" => {
            let t = lc
                .get("target_shape")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(name, class, "no target_shape"))?;
            LayerKind::Reshape(t.iter().map(|d| d.as_i64().unwrap_or(-1)).collect())
        }
        "Add" => LayerKind::Add,
        "Concatenate" => LayerKind::Concatenate {
            axis: lc.get("axis").and_then(Value::as_i64).unwrap_or(-1),
        },
        "Dropout" | "SpatialDropout2D" | "GaussianNoise" | "GaussianDropout" => LayerKind::Dropout,
        other => {
            return Err(unsupported(
                name,
                other,
                "this Keras class has no TFLite conversion",
            ));
        }
    })
}
