//! How diarization tells speakers apart.

use crate::names::{deserialize_from_str, named};

named! {
    /// A bundled speaker model, with the diarization settings it was measured with.
    pub enum SpeakerModel as "speaker_model" {
        /// Resemblyzer: cheap.
        Resemblyzer = "resemblyzer",
        /// CAM++ with segmentation and spectral clustering: accurate, several times the cost.
        Campplus = "campplus",
        /// The same with windows that do not overlap (a 1.6 s hop): half the embeddings, about
        /// two thirds of `campplus`'s cost, a little less accurate.
        CampplusFast = "campplus-fast",
    }
}

deserialize_from_str!(SpeakerModel);

named! {
    /// How speaker embeddings are grouped into speakers.
    #[derive(Default)]
    pub enum Clustering as "speaker_clustering" {
        /// Average linkage cut at a similarity threshold.
        #[default]
        Agglomerative = "agglomerative",
        /// Spectral clustering; the number of speakers from the eigengap (no threshold).
        Spectral = "spectral",
    }
}

deserialize_from_str!(Clustering);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_list_them() {
        for m in SpeakerModel::ALL {
            assert_eq!(m.as_str().parse::<SpeakerModel>().unwrap(), *m);
        }
        let err = "ecapa".parse::<SpeakerModel>().unwrap_err().to_string();
        assert_eq!(err, r#"unknown speaker_model "ecapa"; expected resemblyzer, campplus or campplus-fast"#);
        let c: Clustering = serde_json::from_str(r#""spectral""#).unwrap();
        assert_eq!(
            (c, serde_json::to_string(&Clustering::default()).unwrap()),
            (Clustering::Spectral, r#""agglomerative""#.into())
        );
        assert!(serde_json::from_str::<Clustering>(r#""kmeans""#)
            .unwrap_err()
            .to_string()
            .contains("agglomerative or spectral"));
    }
}
