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
