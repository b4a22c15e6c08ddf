//! The answer model: which GGUF file to use, and loading it off the UI's path.

use cairn_ipc::ModelRow;
use cairn_llm::LocalModel;
use std::path::{Path, PathBuf};

/// The GGUF files in the models folder, with what their headers say.
pub fn list(models_dir: &Path, selected: Option<&Path>) -> Vec<ModelRow> {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return Vec::new();
    };
    let mut rows: Vec<ModelRow> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("gguf"))
        .map(|p| {
            let file = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let is_selected = selected == Some(p.as_path());
            match cairn_llm::inspect(&p) {
                Ok(info) => ModelRow {
                    file,
                    name: info.name.clone(),
                    architecture: info.architecture.clone(),
                    quantization: info.quantization.clone(),
                    size_bytes: info.file_size,
                    parameters: info.parameters,
                    context_length: info.context_length,
                    supported: info.supported && info.has_chat_template,
                    problem: if !info.supported {
                        Some(format!(
                            "architecture {} is not supported",
                            info.architecture
                        ))
                    } else if !info.has_chat_template {
                        Some(
                            "a base model without a chat template: it cannot answer questions"
                                .into(),
                        )
                    } else {
                        None
                    },
                    selected: is_selected,
                },
                Err(e) => ModelRow {
                    name: file.clone(),
                    file,
                    architecture: String::new(),
                    quantization: String::new(),
                    size_bytes: std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
                    parameters: 0,
                    context_length: 0,
                    supported: false,
                    problem: Some(e.to_string()),
                    selected: is_selected,
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| a.file.cmp(&b.file));
    rows
}

/// The model to answer with: the one chosen in the settings if it is still there,
/// else the project's default answer model, else any usable model in the folder.
pub fn choose(models_dir: &Path, chosen: Option<&str>) -> Option<PathBuf> {
    if let Some(file) = chosen {
        let p = models_dir.join(file);
        if p.is_file() {
            return Some(p);
        }
    }
    if let Some(p) = cairn_llm::default_answer_model(models_dir) {
        return Some(p);
    }
    list(models_dir, None)
        .into_iter()
        .find(|m| m.supported)
        .map(|m| models_dir.join(m.file))
}

pub fn load(models_dir: &Path, path: &Path) -> Result<LocalModel, String> {
    let opts = cairn_llm::LoadOptions {
        requantized_dir: Some(models_dir.join("cache")),
        ..Default::default()
    };
    LocalModel::load(path, &opts).map_err(|e| format!("cannot load {}: {e}", path.display()))
}
