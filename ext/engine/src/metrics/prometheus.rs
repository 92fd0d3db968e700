//! A metrics snapshot in Prometheus' text exposition format (version 0.0.4), with
//! anycable-go's names: `anycable_go_<name>`, and `metrics_tags` as labels on every sample.

use std::fmt::Write;

use super::{Kind, Sample};

/// Prefix of every Prometheus metric name, as anycable-go names them.
pub const PREFIX: &str = "anycable_go_";

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `samples` with `tags` as labels.
pub fn render(samples: &[Sample], tags: &[(String, String)]) -> String {
    let labels = if tags.is_empty() {
        String::new()
    } else {
        let pairs: Vec<String> =
            tags.iter().map(|(k, v)| format!("{}=\"{}\"", label_name(k), escape(v))).collect();
        format!("{{{}}}", pairs.join(","))
    };
    let mut out = String::with_capacity(samples.len() * 120);
    for sample in samples {
        let kind = match sample.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {PREFIX}{} {}", sample.name, sample.help);
        let _ = writeln!(out, "# TYPE {PREFIX}{} {kind}", sample.name);
        let _ = writeln!(out, "{PREFIX}{}{labels} {}", sample.name, sample.value);
    }
    out
}

/// A label name Prometheus accepts: `[a-zA-Z_][a-zA-Z0-9_]*` (other characters become `_`).
fn label_name(name: &str) -> String {
    let mut label: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if label.starts_with(|c: char| c.is_ascii_digit()) {
        label.insert(0, '_');
    }
    label
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &'static str, kind: Kind, value: u64) -> Sample {
        Sample { name, help: "Help text", kind, value }
    }

    #[test]
    fn renders_help_type_and_value_with_tags_as_labels() {
        let samples = [sample("rpc_call_total", Kind::Counter, 7), sample("clients_num", Kind::Gauge, 2)];
        let tags = [("env".to_owned(), "prod".to_owned()), ("dyno-id".to_owned(), "web\"1".to_owned())];
        assert_eq!(
            render(&samples, &tags),
            "# HELP anycable_go_rpc_call_total Help text\n\
             # TYPE anycable_go_rpc_call_total counter\n\
             anycable_go_rpc_call_total{env=\"prod\",dyno_id=\"web\\\"1\"} 7\n\
             # HELP anycable_go_clients_num Help text\n\
             # TYPE anycable_go_clients_num gauge\n\
             anycable_go_clients_num{env=\"prod\",dyno_id=\"web\\\"1\"} 2\n"
        );
        assert!(render(&samples, &[]).contains("\nanycable_go_clients_num 2\n"));
    }
}
