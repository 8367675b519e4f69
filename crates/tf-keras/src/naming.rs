//! Keras's object naming: `to_snake_case` of class names and process-wide unique names
//! (`dense`, `dense_1`, ...), reset by [`clear_session`].

use std::collections::HashMap;
use std::sync::Mutex;

static COUNTERS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// Keras's `to_snake_case`: `Conv2D` → `conv2d`, `MaxPooling2D` → `max_pooling2d`,
/// `ReLU` → `re_lu`, `SimpleRNN` → `simple_rnn`, `BatchNormalization` →
/// `batch_normalization`.
pub fn to_snake_case(name: &str) -> String {
    let chars: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // Pass 1: `(.)([A-Z][a-z]+)` → `\1_\2`.
    let mut pass1: Vec<char> = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if i > 0
            && c.is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
        {
            pass1.push('_');
            // Consume the whole `[A-Z][a-z]+` run so a following capital is not matched
            // against it as the `(.)` of the next match.
            pass1.push(c);
            i += 1;
            while i < chars.len() && chars[i].is_ascii_lowercase() {
                pass1.push(chars[i]);
                i += 1;
            }
            continue;
        }
        pass1.push(c);
        i += 1;
    }
    // Pass 2: `([a-z])([A-Z])` → `\1_\2`.
    let mut out = String::with_capacity(pass1.len() + 4);
    for (j, &c) in pass1.iter().enumerate() {
        if j > 0 && c.is_ascii_uppercase() && pass1[j - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c);
    }
    out.to_lowercase()
}

/// A unique name for a new object with `prefix` (`dense`, then `dense_1`, `dense_2`,
/// ...), like Keras's auto-naming. Counters are process-wide.
pub fn unique_object_name(prefix: &str) -> String {
    let mut guard = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    let counters = guard.get_or_insert_with(HashMap::new);
    let n = counters.entry(prefix.to_string()).or_insert(0);
    let name = if *n == 0 {
        prefix.to_string()
    } else {
        format!("{prefix}_{n}")
    };
    *n += 1;
    name
}

/// Resets the auto-naming counters (`keras.backend.clear_session()`): the next Dense is
/// `dense` again.
pub fn clear_session() {
    let mut guard = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    *guard = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_keras() {
        // Values from Keras's `naming.to_snake_case`.
        for (cls, snake) in [
            ("Dense", "dense"),
            ("Conv2D", "conv2d"),
            ("MaxPooling2D", "max_pooling2d"),
            ("ReLU", "re_lu"),
            ("SimpleRNN", "simple_rnn"),
            ("LSTM", "lstm"),
            ("BatchNormalization", "batch_normalization"),
            ("Conv2DTranspose", "conv2d_transpose"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("DepthwiseConv2D", "depthwise_conv2d"),
            ("InputLayer", "input_layer"),
            ("MultiHeadAttention", "multi_head_attention"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("Adam", "adam"),
            ("AdamW", "adam_w"),
            ("RMSprop", "rm_sprop"),
        ] {
            assert_eq!(to_snake_case(cls), snake, "{cls}");
        }
    }
}
