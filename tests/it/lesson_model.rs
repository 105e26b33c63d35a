//! The lesson's trained model out of the app: `beyond lesson --save DIR` writes an HF checkpoint
//! folder that loads and describes itself (`beyond info`), and the archive the web page offers
//! as a download is a zip that Python's `zipfile` reads back byte for byte.

use crate::common;

#[test]
fn the_lesson_saves_its_model_and_the_zip_of_it_reads_back_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("lesson-model");
    let model_arg = model.display().to_string();
    let report = common::json_of(&common::beyond(&[
        "lesson", "--device", "cpu", "--steps", "3", "--json", "--save", &model_arg,
    ]));
    assert_eq!(report["losses"].as_array().unwrap().len(), 3);

    // The folder is an HF checkpoint with the world's tokenizer.
    let info = common::json_of(&common::beyond(&["info", "--model", &model_arg, "--json"]));
    assert_eq!(info["parameters"], report["parameters"]);
    assert_eq!(info["tokenizer"]["vocab_size"], report["vocab_size"]);

    // Zipped as the web page zips it, then read by Python's zipfile (CRCs checked).
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&model)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    let archive = beyond::archive::zip_folder("lesson-model", &files).unwrap();
    let zip = dir.path().join("lesson-model.zip");
    std::fs::write(&zip, &archive).unwrap();
    let script = "import json, sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  print(json.dumps({i.filename: [i.file_size, i.compress_type, \
                  z.read(i.filename).hex()] for i in z.infolist()}))";
    let output = std::process::Command::new("python3")
        .args(["-c", script, &zip.display().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "zipfile refused the archive: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let read = read.as_object().unwrap();
    assert_eq!(read.len(), files.len());
    for (name, bytes) in &files {
        let entry = &read[&format!("lesson-model/{name}")];
        assert_eq!(entry[0], bytes.len(), "{name}: size");
        assert_eq!(entry[1], 8, "{name}: deflated");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            entry[2] == hex.as_str(),
            "{name}: the bytes read back differ"
        );
    }
    assert!(archive.len() < files.iter().map(|(_, b)| b.len()).sum::<usize>());
}
