//! What a job does with the speech.

use crate::names::named;

// No doc comment on the enum: it would become the OpenAPI schema's description.
named! {
    #[derive(Default, serde::Deserialize)]
    pub enum Task as "task" {
        #[default]
        Transcribe = "transcribe",
        /// Into English (multilingual models only).
        Translate = "translate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_the_names() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Task::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(["transcribe", "translate"]));
        assert_eq!(serde_json::to_string(&Task::Translate).unwrap(), r#""translate""#);
    }
}
