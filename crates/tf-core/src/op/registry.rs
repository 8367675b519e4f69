//! The op registry: every op by name, with dense ids.
//!
//! Built-in ops are registered on first use; user crates add their own with
//! [`register_op`] (or [`register_static_op`] for a `static OpDef`). Lookups by name are
//! for deserialization and tooling; the eager hot path holds `&'static OpDef` directly.

use super::def::OpDef;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

struct Registry {
    by_name: HashMap<&'static str, &'static OpDef>,
    list: Vec<&'static OpDef>,
}

impl Registry {
    fn insert(&mut self, def: &'static OpDef) -> Result<u32> {
        if let Some(existing) = self.by_name.get(def.name) {
            if std::ptr::eq(*existing, def) {
                return Ok(existing.id());
            }
            return Err(Error::invalid(
                "register_op",
                format!("an op named '{}' is already registered", def.name),
            ));
        }
        let id = u32::try_from(self.list.len())
            .map_err(|_| Error::invalid("register_op", "too many ops registered"))?;
        def.set_id(id);
        self.by_name.insert(def.name, def);
        self.list.push(def);
        Ok(id)
    }
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    let mut r = Registry {
        by_name: HashMap::new(),
        list: Vec::new(),
    };
    for def in crate::ops::builtin_ops() {
        // Built-in names are unique (checked by a test), so this cannot fail.
        let _ = r.insert(def);
    }
    RwLock::new(r)
});

/// Registers a new op, returning the `'static` handle to call it with.
///
/// Errors when an op of the same name exists.
pub fn register_op(def: OpDef) -> Result<&'static OpDef> {
    let mut r = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if r.by_name.contains_key(def.name) {
        return Err(Error::invalid(
            "register_op",
            format!("an op named '{}' is already registered", def.name),
        ));
    }
    let leaked: &'static OpDef = Box::leak(Box::new(def));
    r.insert(leaked)?;
    Ok(leaked)
}

/// Registers an op defined as a `static`. Registering the same static twice is a no-op.
pub fn register_static_op(def: &'static OpDef) -> Result<()> {
    REGISTRY
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(def)
        .map(|_| ())
}

/// The op named `name` (TensorFlow's op type name, e.g. `"MatMul"`).
pub fn lookup_op(name: &str) -> Option<&'static OpDef> {
    REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .by_name
        .get(name)
        .copied()
}

/// Every registered op, in id order.
pub fn registered_ops() -> Vec<&'static OpDef> {
    REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .list
        .clone()
}

/// Gives `def` an id, registering it if needed (a static op used before registration).
pub(crate) fn ensure_registered(def: &'static OpDef) -> u32 {
    let mut r = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    match r.insert(def) {
        Ok(id) => id,
        // A different op already owns the name: give this one an id anyway so side
        // tables work, without making it reachable by name.
        Err(_) => {
            let id = r.list.len() as u32;
            def.set_id(id);
            r.list.push(def);
            id
        }
    }
}
