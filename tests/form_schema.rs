//! `schemas/form.schema.json` describes the form format: every shipped form validates against it, and
//! it rejects what the format forbids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::{Value, json};

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string("schemas/form.schema.json").unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn forms() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("schemas").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") && !name.ends_with(".schema.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((name, serde_json::from_str(&text).unwrap()));
        }
    }
    out
}

#[test]
fn every_shipped_form_matches_the_format_schema() {
    let validator = schema();
    let forms = forms();
    assert!(!forms.is_empty());
    for (name, form) in forms {
        let errors: Vec<String> = validator
            .iter_errors(&form)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn the_format_schema_rejects_what_the_format_forbids() {
    let validator = schema();
    let good = json!({
        "id": "t", "version": 2026112801, "title": {"id": "a", "en": "a"},
        "pages": [{"name": "p", "label": {"id": "a", "en": "a"}, "fields": [
            {"name": "f", "kind": "text", "label": {"id": "a", "en": "a"}}
        ]}]
    });
    assert!(validator.is_valid(&good));
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "unknown kind",
            Box::new(|v| v["pages"][0]["fields"][0]["kind"] = json!("slider")),
        ),
        (
            "label without en",
            Box::new(|v| v["pages"][0]["fields"][0]["label"] = json!({"id": "a"})),
        ),
        (
            "unknown key",
            Box::new(|v| v["pages"][0]["fields"][0]["colour"] = json!("red")),
        ),
        (
            "bad field name",
            Box::new(|v| v["pages"][0]["fields"][0]["name"] = json!("Nama Lengkap")),
        ),
        (
            "short version",
            Box::new(|v| v["version"] = json!(20261128)),
        ),
        (
            "no pages",
            Box::new(|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("pages")
                    .map(|_| ())
                    .unwrap_or(())
            }),
        ),
        (
            "bad severity",
            Box::new(|v| {
                v["checks"] =
                    json!([{"rule": "1", "severity": "fatal", "message": {"id": "a", "en": "a"}}])
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(
            !validator.is_valid(&bad),
            "the schema accepted a form with {what}"
        );
    }
}
