//! The multiple-choice readers on small files in each published layout, awkward ones included.

use std::fs;
use std::path::Path;

use beyond::eval::mcq::{Format, read};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn ceval_with_quoted_commas_newlines_chinese_and_lower_case_answers() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dev/law_dev.csv",
        "id,question,A,B,C,D,answer,explanation\n0,宪法是什么？,根本法,\"普通法, 不是\",刑法,民法,A,宪法是国家的根本法。\n",
    );
    // No explanation column, a question across lines, an answer in lower case with spaces.
    write(
        dir.path(),
        "val/law_val.csv",
        "id,question,A,B,C,D,answer\n0,\"第一行\n第二行，问题？\",甲,乙,\"丙,丁\",戊, c \n1,问题二,1,2,3,4,D\n",
    );
    write(
        dir.path(),
        "test/law_test.csv",
        "id,question,A,B,C,D\n0,无答案,1,2,3,4\n",
    );
    let set = read(Format::Ceval, dir.path(), None).unwrap();
    assert_eq!(set.subjects.len(), 1);
    let law = &set.subjects[0];
    assert_eq!(law.name, "law");
    assert_eq!(law.dev.len(), 1);
    assert_eq!(law.dev[0].options[1], "普通法, 不是");
    assert_eq!(
        law.dev[0].explanation.as_deref(),
        Some("宪法是国家的根本法。")
    );
    assert_eq!(law.eval.len(), 2);
    assert_eq!(law.eval[0].question, "第一行\n第二行，问题？");
    assert_eq!(law.eval[0].options[2], "丙,丁");
    assert_eq!(law.eval[0].answer, 2);
    assert_eq!(law.eval[1].answer, 3);
    assert!(law.eval[0].explanation.is_none());
}

#[test]
fn a_malformed_row_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "val/bio_val.csv",
        "id,question,A,B,C,D,answer\n0,q,1,2,3,4,A\n1,\"two\nlines\",1,2,3,4,F\n",
    );
    let err = read(Format::Ceval, dir.path(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bio_val.csv") && err.contains("line 3"),
        "{err}"
    );
    assert!(err.contains("`F`"), "{err}");
    write(
        dir.path(),
        "val/bio_val.csv",
        "id,question,A,B,C,D,answer\n0,q,1,2\n",
    );
    let err = read(Format::Ceval, dir.path(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bio_val.csv") && err.contains("line 2"),
        "{err}"
    );
    // C-Eval's test split has no answers: a clear message, not a guess.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "test/x_test.csv",
        "id,question,A,B,C,D,answer\n0,q,1,2,3,4,\n",
    );
    let err = read(Format::Ceval, t.path(), None).unwrap_err().to_string();
    assert!(err.contains("no answer"), "{err}");
}

#[test]
fn mmlu_has_no_header_and_reads_from_data() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "data/dev/astronomy_dev.csv",
        "\"What is the Sun?\",A star,A planet,A moon,\"A comet, icy\",A\n",
    );
    write(
        dir.path(),
        "data/test/astronomy_test.csv",
        "Which is largest?,Earth,Jupiter,Mars,Venus,B\n\"Quote \"\"this\"\"\",a,b,c,d,d\n",
    );
    let set = read(Format::Mmlu, dir.path(), None).unwrap();
    let s = &set.subjects[0];
    assert_eq!(s.name, "astronomy");
    assert_eq!(s.dev[0].options[3], "A comet, icy");
    assert_eq!(s.eval.len(), 2);
    assert_eq!(s.eval[1].question, "Quote \"this\"");
    assert_eq!(s.eval[1].answer, 3);
    // One file works too.
    let one = read(
        Format::Mmlu,
        &dir.path().join("data/test/astronomy_test.csv"),
        None,
    )
    .unwrap();
    assert_eq!(one.subjects[0].eval.len(), 2);
}

#[test]
fn agieval_strips_option_labels_and_skips_cloze() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "logiqa-zh.jsonl",
        concat!(
            r#"{"passage": "甲说乙在说谎。", "question": "谁说了真话？", "options": ["(A)甲", "(B)乙", "(C)丙", "(D)都没有"], "label": "C", "answer": null}"#,
            "\n",
            r#"{"passage": null, "question": "1+1=?", "options": null, "label": null, "answer": "2"}"#,
            "\n",
            r#"{"passage": null, "question": "Pick two", "options": ["(A)x", "(B)y", "(C)z", "(D)w"], "label": ["A", "B"]}"#,
            "\n"
        ),
    );
    let set = read(Format::Agieval, dir.path(), None).unwrap();
    assert_eq!(set.skipped, 2);
    let item = &set.subjects[0].eval[0];
    assert_eq!(set.subjects[0].name, "logiqa-zh");
    assert_eq!(item.passage.as_deref(), Some("甲说乙在说谎。"));
    assert_eq!(item.options, ["甲", "乙", "丙", "都没有"]);
    assert_eq!(item.answer, 2);
    write(dir.path(), "bad.jsonl", "{\"question\": 3}\n");
    let err = read(Format::Agieval, &dir.path().join("bad.jsonl"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.jsonl") && err.contains("line 1"), "{err}");
}

#[test]
fn gaokao_options_come_out_of_the_question() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "2010-2022_History_MCQs.json",
        r#"{"keywords": "2010-2022_History_MCQs", "example": [
            {"year": "2010", "category": "（新课标）", "question": "1．下列朝代中最早的是（　　）\nA．唐\nB．宋\nC．元\nD．明", "answer": ["A"], "analysis": "唐最早。", "index": 0, "score": 4},
            {"year": "2011", "category": "（新课标）", "question": "阅读材料，回答问题。\n1．…\nA．甲\nB．乙\n2．…\nA．丙\nB．丁", "answer": ["A", "B"], "analysis": "", "index": 1, "score": 8}
        ]}"#,
    );
    let set = read(Format::Gaokao, dir.path(), None).unwrap();
    assert_eq!(set.skipped, 1);
    let item = &set.subjects[0].eval[0];
    assert_eq!(item.question, "1．下列朝代中最早的是（　　）");
    assert_eq!(item.options, ["唐", "宋", "元", "明"]);
    assert_eq!(item.answer, 0);
}
