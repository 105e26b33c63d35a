//! What the app remembers between sessions: the paths and choices typed into its pages, one
//! section per page, kept by eframe's storage (a file in the platform's app-data folder). A
//! field that is `None` was never recorded and leaves the page's default in place.

// Some of these serve only the desktop's pages.
#![cfg_attr(not(feature = "native"), allow(dead_code))]

use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;

/// Everything remembered.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The page shown last.
    pub page: Option<String>,
    pub start: StartSettings,
    pub study: StudySettings,
    pub model: ModelSettings,
    pub vocabulary: VocabularySettings,
    pub train: TrainSettings,
    pub evaluate: EvaluateSettings,
    pub playground: PlaygroundSettings,
    pub rate: RateSettings,
    pub lesson: LessonSettings,
}

/// The Start page: the world's folder.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StartSettings {
    pub dir: Option<String>,
}

/// The Study page: the study, its scale and workspace.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StudySettings {
    pub choice: Option<String>,
    pub scale: Option<String>,
    pub workspace: Option<String>,
}

/// The Model page: the model folder and the device.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    pub dir: Option<String>,
    pub device: Option<DeviceChoice>,
}

/// The Vocabulary page's paths and sizes.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VocabularySettings {
    pub tokenizer: Option<String>,
    pub corpora: Option<String>,
    /// The built-in samples ticked: language codes separated by commas.
    pub samples: Option<String>,
    pub reference: Option<String>,
    /// The language new tokens are learned from (the web page).
    pub learn_language: Option<String>,
    pub train_corpus: Option<String>,
    pub sizes: Option<String>,
    pub out: Option<String>,
    pub resize_model: Option<String>,
    pub resize_tokenizer: Option<String>,
    pub resize_out: Option<String>,
}

/// The Train page: the manifest and the runs compared.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSettings {
    pub manifest: Option<String>,
    pub compared: Option<Vec<String>>,
}

/// The Evaluate page: the models, the benchmark, texts, prompts and judge.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EvaluateSettings {
    pub model: Option<String>,
    pub after: Option<String>,
    pub data: Option<String>,
    pub language: Option<String>,
    pub texts: Option<String>,
    pub prompts: Option<String>,
    pub target: Option<String>,
    pub judge_url: Option<String>,
    pub judge_model: Option<String>,
    pub ratings: Option<String>,
    pub rater: Option<String>,
}

/// The Playground: the prompt and the two models.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PlaygroundSettings {
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub beside: Option<String>,
}

/// The Rate page: the two answer files and the rater.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RateSettings {
    pub a: Option<String>,
    pub b: Option<String>,
    pub rater: Option<String>,
}

/// The Lesson page: the seed, the steps, the device and the prompt.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LessonSettings {
    pub seed: Option<u64>,
    pub steps: Option<u64>,
    pub device: Option<DeviceChoice>,
    pub prompt: Option<String>,
}

/// Where eframe keeps them.
pub const KEY: &str = "beyond-settings";

/// Puts back a recorded value, if there is one.
pub fn recall(value: &Option<String>, field: &mut String) {
    if let Some(v) = value {
        field.clone_from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_comes_back_and_what_is_not_leaves_the_default() {
        let mut s = Settings::default();
        s.start.dir = Some("my-world".into());
        s.model.device = Some(DeviceChoice::Cpu);
        s.train.compared = Some(vec!["runs/a".into(), "runs/b".into()]);
        let text = serde_json::to_string(&s).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back.start.dir.as_deref(), Some("my-world"));
        assert_eq!(back.model.device, Some(DeviceChoice::Cpu));
        assert_eq!(back.train.compared.as_ref().map(Vec::len), Some(2));
        let mut dir = "world".to_string();
        recall(&back.evaluate.model, &mut dir);
        assert_eq!(dir, "world");
        recall(&back.start.dir, &mut dir);
        assert_eq!(dir, "my-world");
        // Settings saved by an older version (a map of `page.field` keys) read as defaults.
        let old: Settings = serde_json::from_str(r#"{"start.dir": "w", "page": "Train"}"#).unwrap();
        assert_eq!(old.start.dir, None);
        assert_eq!(old.page.as_deref(), Some("Train"));
    }
}
