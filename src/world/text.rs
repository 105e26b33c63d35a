//! Facts as sentences, questions and documents in a language.

use super::facts::{Entity, Fact, Relation, Value, WordKind};
use super::language::{LanguagePack, fill};
use crate::error::Result;
use crate::rng::SeededRng;

/// The share of facts a document tells as a question and its answer.
const QUIZ_PERCENT: u32 = 20;

/// Renders facts about the entities of one world in one language.
pub struct Writer<'a> {
    pub lang: &'a LanguagePack,
    pub entities: &'a [Entity],
}

impl Writer<'_> {
    /// An object as the language says it.
    pub fn value(&self, relation: Relation, value: &Value) -> Result<String> {
        Ok(match value {
            Value::Year(y) => y.to_string(),
            Value::Entity(i) => self.entities[*i].render(self.lang),
            Value::Word(key) => {
                let kind = match relation.object_kind() {
                    super::facts::ObjectKind::Word(k) => k,
                    _ => WordKind::Profession,
                };
                self.lang.word(kind, key)?.to_string()
            }
        })
    }

    fn slots(
        &self,
        fact_subject: usize,
        relation: Relation,
        object: &str,
    ) -> [(String, String); 2] {
        [
            (
                relation.subject_slot().to_string(),
                self.entities[fact_subject].render(self.lang),
            ),
            (relation.object_slot().to_string(), object.to_string()),
        ]
    }

    /// The fact in the `which`-th of its statement forms.
    pub fn statement(&self, fact: &Fact, which: usize) -> Result<String> {
        let text = &self.lang.relations[fact.relation.key()];
        let template = &text.statements[which % text.statements.len()];
        let object = self.value(fact.relation, &fact.object)?;
        let slots = self.slots(fact.subject, fact.relation, &object);
        Ok(fill(
            template,
            &slots
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect::<Vec<_>>(),
        ))
    }

    /// The question that asks for the fact's object.
    pub fn question(&self, fact: &Fact) -> String {
        let text = &self.lang.relations[fact.relation.key()];
        fill(
            &text.question,
            &[(
                fact.relation.subject_slot(),
                &self.entities[fact.subject].render(self.lang),
            )],
        )
    }

    /// A document about one entity: the given facts in a random order and random forms (now and
    /// then as a quiz question and its answer), with filler sentences between them.
    pub fn document(&self, rng: &mut SeededRng, facts: &[&Fact]) -> Result<String> {
        let mut order: Vec<&Fact> = facts.to_vec();
        rng.shuffle(&mut order);
        let mut sentences = Vec::with_capacity(order.len() * 2);
        for fact in order {
            if rng.percent(25) {
                sentences.push(rng.pick(&self.lang.prose.filler).clone());
            }
            let forms = self.lang.relations[fact.relation.key()].statements.len();
            if rng.percent(QUIZ_PERCENT) {
                let answer = self.value(fact.relation, &fact.object)?;
                sentences.push(fill(
                    &self.lang.quiz,
                    &[("{question}", &self.question(fact)), ("{answer}", &answer)],
                ));
            } else {
                sentences.push(self.statement(fact, rng.below(forms))?);
            }
        }
        if rng.percent(50) {
            sentences.push(rng.pick(&self.lang.prose.filler).clone());
        }
        Ok(self.lang.join(&sentences))
    }
}
