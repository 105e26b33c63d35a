//! Code-switching analysis on mixed-language strings written for it.

use beyond::eval::codeswitch::{SwitchOptions, analyse, parse_language, summarise};

fn options(code: &str) -> SwitchOptions {
    SwitchOptions::new(parse_language(code).unwrap())
}

/// (language, text) of every segment.
fn segments(text: &str, expected: &str) -> Vec<(String, String)> {
    analyse(text, &options(expected))
        .segments
        .into_iter()
        .map(|s| (s.language, s.text))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(l, t)| (l.to_string(), t.to_string()))
        .collect()
}

#[test]
fn chinese_with_an_english_run() {
    let text = "我今天去了 the supermarket near my house 买东西。";
    let a = analyse(text, &options("zh"));
    assert_eq!(
        segments(text, "zh"),
        pairs(&[
            ("zh", "我今天去了"),
            ("en", "the supermarket near my house"),
            ("zh", "买东西"),
        ])
    );
    assert!(a.switched);
    let s = &a.switches[0];
    assert_eq!((s.language.as_str(), s.script.as_str()), ("en", "Latin"));
    assert_eq!(&text[s.start..s.end], "the supermarket near my house");
    assert_eq!(s.char_start, 6);
    assert!(
        a.expected_share > 0.2 && a.expected_share < 0.4,
        "{}",
        a.expected_share
    );
}

#[test]
fn english_with_a_chinese_run() {
    let text = "I went to the 超市 to buy some groceries today.";
    assert_eq!(
        segments(text, "en"),
        pairs(&[
            ("en", "I went to the"),
            ("zh", "超市"),
            ("en", "to buy some groceries today"),
        ])
    );
    let a = analyse(text, &options("en"));
    assert!(a.switched);
    assert_eq!(a.switches.len(), 1);
    assert_eq!(a.switches[0].text, "超市");
}

#[test]
fn japanese_is_told_from_chinese_by_its_kana() {
    let text = "这个问题很简单。でも、答えは難しいです。";
    assert_eq!(
        segments(text, "zh"),
        pairs(&[("zh", "这个问题很简单"), ("ja", "でも、答えは難しいです")])
    );
    // Expected Japanese: the kana-less first sentence reads as Japanese too, no switch.
    let ja = analyse("東京大学に行きました。", &options("ja"));
    assert!(!ja.switched);
    assert_eq!(ja.segments.len(), 1);
    // A Japanese sentence in a Chinese answer is a switch; one in a Japanese answer is not.
    assert!(analyse("私は学生です。", &options("zh")).switched);
    assert!(!analyse("私は学生です。", &options("ja")).switched);
}

#[test]
fn acronyms_and_numbers_are_not_switches() {
    let a = analyse("我们用 GPU 训练了 3 个 AI 模型，效果不错。", &options("zh"));
    assert!(!a.switched, "{:?}", a.switches);
    // They are still segmented.
    assert!(
        a.segments
            .iter()
            .any(|s| s.text == "GPU" && s.script == "Latin")
    );
}

#[test]
fn romanised_text_leaves_the_script_of_the_language() {
    // Pinyin is Chinese in Latin letters: it is not Chinese script, so a Chinese answer in
    // pinyin switches away from what a reader of Chinese expects.
    let a = analyse("Wo jintian qu chaoshi mai dongxi.", &options("zh"));
    assert_eq!(a.segments.len(), 1);
    assert_eq!(a.segments[0].script, "Latin");
    assert_ne!(a.segments[0].language, "zh");
    assert!(a.switched);
    // Romanised Hindi against Devanagari Hindi.
    let hi = analyse(
        "मैं कल बाज़ार गया था, main kal bazaar gaya tha",
        &options("hi"),
    );
    assert_eq!(hi.segments[0].language, "hi");
    assert_eq!(hi.segments[0].script, "Devanagari");
    assert_eq!(hi.segments[1].script, "Latin");
    assert!(hi.switched);
}

#[test]
fn latin_languages_are_told_apart() {
    // Indonesian expected: an English phrase is a switch, Indonesian is not.
    let a = analyse(
        "Saya pergi ke pasar kemarin. In other words, the answer is simple.",
        &options("id"),
    );
    assert!(a.switched);
    assert_eq!(a.switches[0].language, "en");
    assert!(
        !analyse(
            "Saya pergi ke pasar kemarin pagi bersama ibu saya.",
            &options("id")
        )
        .switched
    );
    // Sentences an identifier takes for Malay (the same written standard) are Indonesian.
    for text in [
        "Sini Novar lahir di Safipa. Pertanyaan: Pada tahun berapa Sini Novar lahir?",
        "Di rumah, Sede Nakin merawat seekor kambing peliharaan.",
    ] {
        let a = analyse(text, &options("id"));
        assert!(!a.switched && a.expected_share == 1.0, "{text}: {a:?}");
    }
    // Vietnamese, with its diacritics, expected: no switch.
    assert!(!analyse("Tôi đi chợ hôm qua với mẹ tôi.", &options("vi")).switched);
}

#[test]
fn scripts_of_one_language_and_other_scripts() {
    let a = analyse("中文回答。Я пошёл в магазин. 그리고 한국어", &options("zh"));
    let langs: Vec<&str> = a.segments.iter().map(|s| s.language.as_str()).collect();
    assert_eq!(langs, ["zh", "ru", "ko"]);
    let t = analyse("நான் நேற்று கடைக்குச் சென்றேன்", &options("ta"));
    assert!(!t.switched);
    assert_eq!(t.segments[0].script, "Tamil");
}

#[test]
fn the_rate_over_responses_counts_non_empty_ones() {
    let zh = parse_language("zh").unwrap();
    let o = SwitchOptions::new(zh);
    let analyses: Vec<_> = [
        "今天天气很好。",
        "我喜欢 machine learning and deep learning 的研究。",
        "这是一个简单的问题。",
        "……",
        "私は学生です。",
    ]
    .iter()
    .map(|t| analyse(t, &o))
    .collect();
    let s = summarise(&zh, &analyses);
    assert_eq!((s.responses, s.empty, s.switched), (5, 1, 2));
    assert!((s.rate - 0.5).abs() < 1e-12);
    assert_eq!(s.into, vec![("en".to_string(), 1), ("ja".to_string(), 1)]);
}

#[test]
fn unknown_codes_are_refused_with_the_known_ones() {
    let e = parse_language("klingon").unwrap_err().to_string();
    assert!(e.contains("klingon") && e.contains("zh"), "{e}");
}

/// `beyond eval codeswitch` on a model's generations and on answers saved before.
#[test]
fn the_command_reports_the_rate_over_generations() {
    let dir = tempfile::tempdir().unwrap();
    let answers = dir.path().join("answers.jsonl");
    std::fs::write(
        &answers,
        [
            r#"{"id":"1","instruction":"介绍一下北京。","response":"北京是中国的首都。"}"#,
            r#"{"id":"2","instruction":"什么是机器学习？","response":"机器学习是 a field of artificial intelligence 的一个分支。"}"#,
            r#"{"id":"3","instruction":"你好","response":"你好！有什么可以帮你？"}"#,
            r#"{"id":"4","instruction":"天气","response":"今日は晴れです。"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let beyond = env!("CARGO_BIN_EXE_beyond");
    let out = std::process::Command::new(beyond)
        .args([
            "eval",
            "codeswitch",
            "--language",
            "zh",
            "--json",
            "--answers",
        ])
        .arg(&answers)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["switched"], 2);
    assert_eq!(v["summary"]["rate"], 0.5);
    assert_eq!(v["responses"][1]["switches"][0]["language"], "en");
    assert_eq!(v["responses"][1]["switches"][0]["char_start"], 6);
    assert_eq!(v["responses"][3]["switches"][0]["language"], "ja");

    // Generated by the fixture model, saved, then read back to the same analysis.
    let fixture = crate::common::fixture_a();
    let prompts = dir.path().join("prompts.txt");
    std::fs::write(&prompts, "Tell me about Beijing.\n介绍一下上海。\n").unwrap();
    let saved = dir.path().join("generated.jsonl");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(beyond)
            .args([
                "eval",
                "codeswitch",
                "--language",
                "zh",
                "--json",
                "--device",
                "cpu",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let generated = run(&[
        "--model".as_ref(),
        fixture.as_os_str(),
        "--prompts".as_ref(),
        prompts.as_os_str(),
        "--max-new-tokens".as_ref(),
        "12".as_ref(),
        "--save-answers".as_ref(),
        saved.as_os_str(),
    ]);
    assert_eq!(generated["summary"]["responses"], 2);
    let reread = run(&["--answers".as_ref(), saved.as_os_str()]);
    assert_eq!(generated["summary"], reread["summary"]);
}
