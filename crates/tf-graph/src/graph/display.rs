//! Readable text form of a graph:
//!
//! ```text
//! graph(%0: float32[?,784]) -> (%4:0)
//!   %1 = ReadVariableOp 'dense/kernel' : float32[784,10]
//!   %2 = MatMul(%0, %1) {transpose_a=false, transpose_b=false} : float32[?,10]
//! ```

use super::{Graph, NodeKind, Output};
use std::fmt;

struct Edge(Output);

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.index == 0 {
            write!(f, "%{}", self.0.node)
        } else {
            write!(f, "%{}:{}", self.0.node, self.0.index)
        }
    }
}

impl Graph {
    fn fmt_indented(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        let pad = " ".repeat(indent);
        write!(f, "{pad}graph(")?;
        for (k, &a) in self.args.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "%{a}: {}", self.nodes[a].outputs[0])?;
        }
        f.write_str(") -> (")?;
        for (k, r) in self.results.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Edge(*r))?;
        }
        f.write_str(")\n")?;
        for (id, n) in self.nodes.iter().enumerate() {
            if matches!(n.kind, NodeKind::Placeholder { .. }) {
                continue;
            }
            write!(f, "{pad}  ")?;
            if !n.outputs.is_empty() {
                write!(f, "%{id} = ")?;
            }
            f.write_str(n.kind.type_name())?;
            match &n.kind {
                NodeKind::Const(t) if t.num_elements() <= 4 && !t.is_symbolic() => {
                    write!(f, " {t}")?;
                }
                NodeKind::ReadVariable { var } | NodeKind::AssignVariable { var, .. } => {
                    if let Some(v) = self.variables.get(*var) {
                        write!(f, " '{}'", v.name())?;
                    }
                }
                NodeKind::FusedElementwise(p) => write!(f, "[{p}]")?,
                _ => {}
            }
            if !n.inputs.is_empty() {
                f.write_str("(")?;
                for (k, i) in n.inputs.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Edge(*i))?;
                }
                f.write_str(")")?;
            }
            if !n.control.is_empty() {
                f.write_str(" after ")?;
                for (k, c) in n.control.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "%{c}")?;
                }
            }
            if !n.attrs.is_empty() {
                write!(f, " {{{}}}", n.attrs)?;
            }
            if !n.outputs.is_empty() {
                f.write_str(" : ")?;
                for (k, s) in n.outputs.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{s}")?;
                }
            }
            f.write_str("\n")?;
            match &n.kind {
                NodeKind::Cond(c) => {
                    writeln!(f, "{pad}    then:")?;
                    c.then_graph.fmt_indented(f, indent + 6)?;
                    writeln!(f, "{pad}    else:")?;
                    c.else_graph.fmt_indented(f, indent + 6)?;
                }
                NodeKind::While(w) => {
                    writeln!(f, "{pad}    cond:")?;
                    w.cond_graph.fmt_indented(f, indent + 6)?;
                    writeln!(f, "{pad}    body:")?;
                    w.body_graph.fmt_indented(f, indent + 6)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_indented(f, 0)
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
