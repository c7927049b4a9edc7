//! What the server checks but the handlers' types cannot say, written into the generated spec so
//! that it describes exactly what is accepted (issue 20: schemathesis sends whatever the spec
//! allows and fails any refusal). The values come from where the server checks them
//! (`jobs::validate`, `JobStatus::ALL`, the event id format), so each list is defined once.
//!
//! Request bodies: option values (languages, speaker counts, model names, offsets, prompts,
//! absolute paths, http(s) URLs), "exactly one input" as `oneOf`, and multipart forms as forms
//! are: a field is present or absent (never `null`), no unknown field, `options` is a JSON
//! `JobOptions`. Parameters: `status`, `cursor`,
//! `since` / `Last-Event-ID`, `Idempotency-Key`. Streams declared as a plain string: each
//! server-sent event is an object (`event`, `data`, `id`), which is what schemathesis checks an
//! event-stream body against.

use serde_json::{json, Map, Value};
use utoipa::Modify;

pub(super) struct Constraints;

impl Modify for Constraints {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut doc = serde_json::to_value(&*openapi).expect("the OpenAPI document serializes");
        constrain(&mut doc);
        if let Err(e) = read_back(openapi, doc) {
            panic!("the constrained OpenAPI document does not read back: {e}");
        }
    }
}

/// Puts the constrained schemas back into `openapi`, and constrains its parameters and streams.
/// utoipa's model has no `oneOf` beside `properties`: it rides as the schema's extension (the
/// only one, so that the output stays stable), written as it is.
/// (Only what changed is read back: not everything utoipa writes reads back, e.g. `{}`.)
fn read_back(openapi: &mut utoipa::openapi::OpenApi, mut doc: Value) -> Result<(), String> {
    use utoipa::openapi::schema::Type;
    use utoipa::openapi::{extensions::Extensions, Ref, RefOr, Schema};
    let components = openapi.components.get_or_insert_with(Default::default);
    let schemas = doc["components"]["schemas"].as_object_mut().ok_or("no components.schemas")?;
    let touched = JSON_BODIES.iter().chain(&FORMS).chain(&[TRANSLATION_FORM]);
    for name in touched {
        let Some(mut schema) = schemas.remove(*name) else { continue };
        let one_of = match schema.as_object_mut() {
            Some(object) if object.contains_key("properties") => object.remove("oneOf"),
            _ => None,
        };
        let mut typed: RefOr<Schema> = serde_json::from_value(schema).map_err(|e| format!("schema {name}: {e}"))?;
        if let Some(one_of) = one_of {
            match &mut typed {
                RefOr::T(Schema::Object(object)) => {
                    object.extensions = Some(Extensions::from_iter([("oneOf", one_of)]))
                }
                _ => {
                    return Err(format!("schema {name}: `oneOf` beside `properties` in a schema that is not an object"))
                }
            }
        }
        components.schemas.insert(name.to_string(), typed);
    }
    let event: RefOr<Schema> = serde_json::from_value(event_schema()).map_err(|e| format!("event: {e}"))?;
    for (path, item) in openapi.paths.paths.iter_mut() {
        for op in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            for param in op.parameters.iter_mut().flatten() {
                let header = matches!(param.parameter_in, utoipa::openapi::path::ParameterIn::Header);
                if let (Some(pattern), Some(RefOr::T(Schema::Object(schema)))) =
                    (parameter_pattern(&param.name), param.schema.as_mut())
                {
                    if header {
                        // A header is sent or not: never null.
                        schema.schema_type = Type::String.into();
                    }
                    schema.pattern = Some(pattern);
                }
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    // A stream declared as a plain string (e.g. the OpenAI routes') gets the
                    // generic event; one that declares its events keeps them.
                    if let Some(stream) = response.content.get_mut("text/event-stream") {
                        if let Some(RefOr::T(Schema::Object(plain))) = &stream.schema {
                            if plain.schema_type == Type::String.into() {
                                stream.schema = Some(event.clone());
                            }
                        }
                    }
                }
            }
            if path == "/v1/audio/translations" {
                for content in op.request_body.iter_mut().flat_map(|body| body.content.values_mut()) {
                    content.schema = Some(RefOr::Ref(Ref::from_schema_name(TRANSLATION_FORM)));
                }
            }
        }
    }
    Ok(())
}

/// JSON bodies whose option fields are checked by `jobs::validate` (and the inputs' checks).
/// (A batch's own `urls`, `paths` and `inputs` are not: a refused item is listed in `rejected`.)
const JSON_BODIES: [&str; 3] = ["SubmitJobJson", "JobOptions", "SubmitBatchJson"];
/// Multipart bodies, and the option fields a job form takes besides its file(s).
const FORMS: [&str; 3] = ["SubmitJobForm", "SubmitBatchForm", "AudioRequestForm"];

fn constrain(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].as_object_mut().expect("components.schemas");
    flatten_batch(schemas);
    for name in JSON_BODIES {
        if let Some(schema) = schemas.get_mut(name) {
            walk_objects(schema, &mut |props| constrain_values(props, false));
        }
    }
    exactly_one(&mut schemas["SubmitJobJson"], &["url", "path"], true);
    // A batch's input list counts as given even when null, and must then hold something.
    for list in ["urls", "paths", "inputs"] {
        if let Some(schema) = schemas["SubmitBatchJson"]["properties"].get_mut(list) {
            schema["type"] = "array".into();
            schema["minItems"] = 1.into();
        }
    }
    exactly_one(&mut schemas["SubmitBatchJson"], &["urls", "paths", "inputs"], false);
    // The batch form takes the job form's option fields too (one intake reads both).
    let job_form = schemas["SubmitJobForm"]["properties"].clone();
    if let (Some(batch), Some(job)) = (schemas["SubmitBatchForm"]["properties"].as_object_mut(), job_form.as_object()) {
        for (name, schema) in job.iter().filter(|(name, _)| *name != "file") {
            batch.entry(name.clone()).or_insert_with(|| schema.clone());
        }
    }
    for name in FORMS {
        if let Some(form) = schemas.get_mut(name) {
            constrain_form(form);
        }
    }
    translation_form(doc);
}

/// Calls `f` on the `properties` of `schema` and of every object schema inside it.
fn walk_objects(schema: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        f(props);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
            walk_objects(part, f);
        }
    }
}

fn languages() -> Vec<Value> {
    jobs::validate::LANGUAGES.iter().map(|&code| code.into()).collect()
}

/// `(a|b|c)`, for patterns.
fn alternatives(names: impl IntoIterator<Item = &'static str>) -> String {
    format!("({})", names.into_iter().collect::<Vec<_>>().join("|"))
}

/// As `jobs::validate` checks a model name: letters, digits, `.`, `_`, `-`, not starting with a
/// dot, at most 64 characters.
const MODEL_PATTERN: &str = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$";
/// `jobs::net::check_url`: an absolute http or https URL with a host.
const URL_PATTERN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\\s]+([/?#]\\S*)?$";

/// Sets the checks `jobs::validate` and the input checks make on the option fields of a JSON
/// body (`form`: the same fields as multipart text fields).
fn constrain_values(props: &mut Map<String, Value>, form: bool) {
    use jobs::validate::{MAX_PROMPT_CHARS, MAX_SPEAKERS, MAX_TIMESTAMP_OFFSET};
    let mut set = |name: &str, rules: Value| {
        if let (Some(Value::Object(schema)), Value::Object(rules)) = (props.get_mut(name), rules) {
            let nullable = schema.get("type").and_then(Value::as_array).is_some_and(|t| t.contains(&"null".into()));
            for (key, mut value) in rules {
                if let (true, "enum", Value::Array(values)) = (nullable, key.as_str(), &mut value) {
                    values.push(Value::Null);
                }
                schema.insert(key, value);
            }
        }
    };
    set("language", json!({ "enum": languages() }));
    if form {
        // Comma-separated codes, blanks around them and empty pieces ignored; at least one code.
        let code = alternatives(jobs::validate::LANGUAGES.iter().copied());
        set("allowed_languages", json!({ "pattern": format!("^[\\s,]*{code}(\\s*,[\\s,]*{code})*[\\s,]*$") }));
    } else {
        set("allowed_languages", json!({ "minItems": 1, "items": { "type": "string", "enum": languages() } }));
    }
    for field in ["min_speakers", "max_speakers"] {
        set(field, json!({ "minimum": 1, "maximum": MAX_SPEAKERS }));
    }
    set("timestamp_offset", json!({ "minimum": 0, "maximum": MAX_TIMESTAMP_OFFSET }));
    // PostgreSQL's jsonb cannot hold NUL, so a prompt with one is refused.
    set("initial_prompt", json!({ "maxLength": MAX_PROMPT_CHARS, "pattern": "^[^\\u0000]*$" }));
    set("model", json!({ "pattern": MODEL_PATTERN }));
    set("path", json!({ "pattern": "^/" }));
    for field in ["url", "callback_url"] {
        set(field, json!({ "format": "uri", "pattern": URL_PATTERN }));
    }
}

/// Exactly one of `fields`: with `null_is_absent`, one non-null and the others absent or null;
/// without, one present (whatever its value) and the others absent.
fn exactly_one(schema: &mut Value, fields: &[&str], null_is_absent: bool) {
    let props = schema["properties"].clone();
    let branches: Vec<Value> = fields
        .iter()
        .map(|field| {
            let others = fields.iter().filter(|f| *f != field);
            if !null_is_absent {
                let present: Vec<Value> = others.map(|f| json!({ "required": [f] })).collect();
                return json!({ "required": [field], "not": { "anyOf": present } });
            }
            let mut given = props[field].clone();
            if let Some(Value::Array(types)) = given.get_mut("type") {
                types.retain(|t| t != "null");
            }
            let mut properties: Map<String, Value> =
                others.map(|f| (f.to_string(), json!({ "type": "null" }))).collect();
            properties.insert(field.to_string(), given);
            json!({ "required": [field], "properties": properties })
        })
        .collect();
    schema["oneOf"] = Value::Array(branches);
}

/// A JSON batch is one object (the server reads its inputs and callback, then the rest as
/// `JobOptions`, unknown fields refused); `allOf` with `JobOptions`, whose additional properties
/// are refused, would forbid the batch's own fields.
fn flatten_batch(schemas: &mut Map<String, Value>) {
    let options = schemas["JobOptions"]["properties"].clone();
    let Some(batch) = schemas.get_mut("SubmitBatchJson") else { return };
    let Some(Value::Array(parts)) = batch.get("allOf").cloned() else { return };
    let mut properties = options.as_object().cloned().unwrap_or_default();
    for part in &parts {
        if let Some(own) = part.get("properties").and_then(Value::as_object) {
            properties.extend(own.clone());
        }
    }
    let description = batch.get("description").cloned().unwrap_or_default();
    *batch = json!({ "type": "object", "description": description, "properties": properties,
        "additionalProperties": false });
}

/// A multipart form as the server reads it: text fields that are present or not, no unknown
/// field, `options` a JSON `JobOptions`. (That `options` excludes the separate option fields is
/// left to the description: as `not`, schemathesis 4.32 cannot generate multipart bodies.)
fn constrain_form(form: &mut Value) {
    form["additionalProperties"] = false.into();
    let Some(props) = form.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for schema in props.values_mut() {
        if let Some(Value::Array(types)) = schema.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                *schema.get_mut("type").unwrap() = only.clone();
            }
        }
        if let Some(Value::Array(choices)) = schema.get("oneOf") {
            let kept: Vec<Value> = choices.iter().filter(|c| c.get("type") != Some(&"null".into())).cloned().collect();
            if let [only] = kept.as_slice() {
                *schema = only.clone();
            }
        }
    }
    constrain_values(props, true);
    // An empty file is refused (a batch lists it in `rejected`), and a batch needs one file.
    if let Some(file) = props.get_mut("file") {
        file["minLength"] = 1.into();
    }
    if let Some(files) = props.get_mut("files") {
        files["minItems"] = 1.into();
    }
    if props.contains_key("options") {
        let described = props["options"].get("description").cloned();
        props["options"] = json!({ "$ref": "#/components/schemas/JobOptions" });
        if let Some(description) = described {
            props["options"] = json!({ "allOf": [props["options"].clone()], "description": description });
        }
    }
}

/// The OpenAI form's fields the server reads: empty `language`, `prompt` and `model` mean
/// "not given"; `response_format` and `timestamp_granularities[]` from fixed lists;
/// `temperature` 0 to 1.
fn openai_fields(props: &mut Map<String, Value>) {
    if let Some(Value::Array(codes)) = props.get_mut("language").and_then(|l| l.get_mut("enum")) {
        codes.push("".into());
    }
    if let Some(model) = props.get_mut("model") {
        model["pattern"] = format!("^({})?$", &MODEL_PATTERN[1..MODEL_PATTERN.len() - 1]).into();
    }
    props["prompt"]["maxLength"] = jobs::validate::MAX_PROMPT_CHARS.into();
    props["prompt"]["pattern"] = "^[^\\u0000]*$".into();
    // As `openai::form::ResponseFormat::parse` reads them.
    props["response_format"]["enum"] = json!(["json", "text", "srt", "verbose_json", "vtt"]);
    props["temperature"]["minimum"] = 0.into();
    props["temperature"]["maximum"] = 1.into();
    props["timestamp_granularities[]"]["items"] = json!({ "type": "string", "enum": ["word", "segment"] });
}

const TRANSLATION_FORM: &str = "AudioTranslationForm";

/// Translations take no `language`: their own copy of the form without it.
fn translation_form(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].as_object_mut().expect("components.schemas");
    let Some(form) = schemas.get_mut("AudioRequestForm") else { return };
    if let Some(props) = form.get_mut("properties").and_then(Value::as_object_mut) {
        openai_fields(props);
    }
    let mut translation = form.clone();
    translation["properties"].as_object_mut().expect("properties").remove("language");
    translation["description"] = "The multipart form OpenAI's translation endpoint takes (no `language`).".into();
    schemas.insert(TRANSLATION_FORM.into(), translation);
}

/// The pattern of a query parameter or header whose format the server checks.
fn parameter_pattern(name: &str) -> Option<String> {
    let status = alternatives(jobs::JobStatus::ALL.iter().map(|s| s.as_str()));
    Some(match name {
        // Comma-separated states, blanks around each allowed.
        "status" => format!("^\\s*{status}\\s*(,\\s*{status}\\s*)*$"),
        // `next_cursor`: a job id, 16 bytes in unpadded URL-safe base64.
        "cursor" => "^[A-Za-z0-9_-]{21}[AQgw]$".into(),
        "since" => format!("^{}$", event_id(&status)),
        // Empty is taken as none (as EventSource sends it before its first event).
        "Last-Event-ID" => format!("^({})?$", event_id(&status)),
        // Visible ASCII and inner spaces (HTTP strips the outer ones), 1 to 255 characters.
        "Idempotency-Key" => "^[\\x21-\\x7E]([\\x20-\\x7E]{0,253}[\\x21-\\x7E])?$".into(),
        _ => return None,
    })
}

/// An event id (routes/events/position.rs): attempt.worker.segments.status.progress.stage
fn event_id(status: &str) -> String {
    format!("[0-9]{{1,9}}\\.(-|[0-9a-f]{{8}})\\.[0-9]{{1,9}}\\.{status}\\.([0-9]{{1,3}}|1000)\\.(-|[a-z0-9_]{{1,32}})")
}

/// One server-sent event as schemathesis reads an event stream: `data` always, `event` and `id`
/// when the server names them.
fn event_schema() -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": { "type": "string" },
            "data": { "type": "string" },
            "id": { "type": "string" },
            "retry": { "type": "integer" },
        },
    })
}
