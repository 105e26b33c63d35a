//! Who lives in the world and what is true of them: people, organisations, cities and
//! countries, their names (as syllables, spelt by each language), and the facts, each assigned to
//! the split that decides which corpora tell it.

use std::collections::BTreeSet;

use serde::Serialize;

use super::language::LanguagePack;
use crate::rng::SeededRng;

/// Kinds of named things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Person,
    Org,
    City,
    Country,
}

/// Kinds of words facts take from the lexicon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WordKind {
    Profession,
    Language,
    Pet,
    Industry,
    OrgSuffix,
    Subject,
}

impl WordKind {
    pub fn key(self) -> &'static str {
        match self {
            WordKind::Profession => "profession",
            WordKind::Language => "language",
            WordKind::Pet => "pet",
            WordKind::Industry => "industry",
            WordKind::OrgSuffix => "org_suffix",
            WordKind::Subject => "subject",
        }
    }
}

/// What a fact's object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Year { from: u32, to: u32 },
    Entity(EntityKind),
    Word(WordKind),
}

/// The kinds of facts. Each is a function: a subject has exactly one object, so every other
/// object of the same kind is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    BirthYear,
    Birthplace,
    Profession,
    Employer,
    Language,
    Pet,
    Headquarters,
    Industry,
    Founded,
    Country,
}

impl Relation {
    pub const ALL: [Relation; 10] = [
        Relation::BirthYear,
        Relation::Birthplace,
        Relation::Profession,
        Relation::Employer,
        Relation::Language,
        Relation::Pet,
        Relation::Headquarters,
        Relation::Industry,
        Relation::Founded,
        Relation::Country,
    ];

    /// The name of its section in a language file.
    pub fn key(self) -> &'static str {
        match self {
            Relation::BirthYear => "birth_year",
            Relation::Birthplace => "birthplace",
            Relation::Profession => "profession",
            Relation::Employer => "employer",
            Relation::Language => "language",
            Relation::Pet => "pet",
            Relation::Headquarters => "headquarters",
            Relation::Industry => "industry",
            Relation::Founded => "founded",
            Relation::Country => "country",
        }
    }

    pub fn subject_kind(self) -> EntityKind {
        match self {
            Relation::Headquarters | Relation::Industry | Relation::Founded => EntityKind::Org,
            Relation::Country => EntityKind::City,
            _ => EntityKind::Person,
        }
    }

    pub fn object_kind(self) -> ObjectKind {
        match self {
            Relation::BirthYear => ObjectKind::Year {
                from: 1930,
                to: 2005,
            },
            Relation::Founded => ObjectKind::Year {
                from: 1780,
                to: 1990,
            },
            Relation::Birthplace | Relation::Headquarters => ObjectKind::Entity(EntityKind::City),
            Relation::Employer => ObjectKind::Entity(EntityKind::Org),
            Relation::Country => ObjectKind::Entity(EntityKind::Country),
            Relation::Profession => ObjectKind::Word(WordKind::Profession),
            Relation::Language => ObjectKind::Word(WordKind::Language),
            Relation::Pet => ObjectKind::Word(WordKind::Pet),
            Relation::Industry => ObjectKind::Word(WordKind::Industry),
        }
    }

    pub fn subject_slot(self) -> &'static str {
        slot_of_entity(self.subject_kind())
    }

    pub fn object_slot(self) -> &'static str {
        match self.object_kind() {
            ObjectKind::Year { .. } => "{year}",
            ObjectKind::Entity(kind) => slot_of_entity(kind),
            ObjectKind::Word(WordKind::Profession) => "{profession}",
            ObjectKind::Word(WordKind::Language) => "{language}",
            ObjectKind::Word(WordKind::Pet) => "{pet}",
            ObjectKind::Word(_) => "{industry}",
        }
    }
}

fn slot_of_entity(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Person => "{person}",
        EntityKind::Org => "{org}",
        EntityKind::City => "{city}",
        EntityKind::Country => "{country}",
    }
}

/// A fact's object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Year(u32),
    /// An index into [`World::entities`](super::World).
    Entity(usize),
    /// A lexicon key.
    Word(String),
}

/// Which corpora tell a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// In the English corpus only.
    EnglishOnly,
    /// In the English and the target-language corpora.
    BothLanguages,
    /// Nowhere: questions about it measure chance.
    NeverSeen,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::EnglishOnly, Split::BothLanguages, Split::NeverSeen];

    /// Its name, also the benchmark subject.
    pub fn key(self) -> &'static str {
        match self {
            Split::EnglishOnly => "english_only",
            Split::BothLanguages => "both_languages",
            Split::NeverSeen => "never_seen",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: EntityKind,
    /// Syllables of the name (a person: given, then family).
    pub name: Vec<String>,
    /// A person's given name is `name[..given]`; 0 for other kinds.
    pub given: usize,
    /// An organisation's suffix key (`Group`, `Company`, ...).
    pub suffix: Option<String>,
}

impl Entity {
    /// The name in `lang`.
    pub fn render(&self, lang: &LanguagePack) -> String {
        match self.kind {
            EntityKind::Person => super::language::fill(
                &lang.names.person,
                &[
                    ("{given}", &lang.spell(&self.name[..self.given])),
                    ("{family}", &lang.spell(&self.name[self.given..])),
                ],
            ),
            EntityKind::Org => {
                let suffix = self.suffix.as_deref().unwrap_or_default();
                let suffix = lang.word(WordKind::OrgSuffix, suffix).unwrap_or(suffix);
                super::language::fill(
                    &lang.names.org,
                    &[("{name}", &lang.spell(&self.name)), ("{suffix}", suffix)],
                )
            }
            EntityKind::Country => {
                super::language::fill(&lang.names.country, &[("{name}", &lang.spell(&self.name))])
            }
            EntityKind::City => lang.spell(&self.name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fact {
    pub id: usize,
    pub subject: usize,
    pub relation: Relation,
    pub object: Value,
    pub split: Split,
    /// Also in the instruction data (only facts told in both languages are).
    pub instructed: bool,
}

/// How many of each kind to make for `people` people.
pub fn population(people: usize) -> [(EntityKind, usize); 4] {
    let cities = (people / 8).max(8);
    [
        (EntityKind::Country, (cities / 4).max(5)),
        (EntityKind::City, cities),
        (EntityKind::Org, (people / 6).max(6)),
        (EntityKind::Person, people),
    ]
}

/// Makes the entities: names unique, and no name inside another in any language (so a question
/// never contains an option by accident).
pub fn make_entities(
    rng: &mut SeededRng,
    people: usize,
    langs: &[LanguagePack],
    suffixes: &[String],
) -> Vec<Entity> {
    let base = &langs[0].names;
    let mut taken: Vec<BTreeSet<String>> = vec![BTreeSet::new(); langs.len()];
    let mut out = Vec::new();
    for (kind, count) in population(people) {
        let mut made = 0;
        while made < count {
            let (name, given) = match kind {
                EntityKind::Person => {
                    let mut n = vec![rng.pick(&base.open).clone(), rng.pick(&base.open).clone()];
                    n.push(rng.pick(&base.open).clone());
                    n.push(rng.pick(&base.closed).clone());
                    (n, 2)
                }
                EntityKind::City => {
                    let n = (0..3).map(|_| rng.pick(&base.open).clone()).collect();
                    (n, 0)
                }
                EntityKind::Org => (
                    vec![rng.pick(&base.open).clone(), rng.pick(&base.closed).clone()],
                    0,
                ),
                EntityKind::Country => (
                    vec![rng.pick(&base.open).clone(), rng.pick(&base.open).clone()],
                    0,
                ),
            };
            let suffix = (kind == EntityKind::Org).then(|| rng.pick(suffixes).clone());
            let entity = Entity {
                kind,
                name,
                given,
                suffix,
            };
            let rendered: Vec<String> = langs.iter().map(|l| entity.render(l)).collect();
            let clash = rendered.iter().zip(&taken).any(|(r, seen)| {
                seen.iter()
                    .any(|s| s.contains(r.as_str()) || r.contains(s.as_str()))
            });
            if clash {
                continue;
            }
            for (r, seen) in rendered.into_iter().zip(taken.iter_mut()) {
                seen.insert(r);
            }
            out.push(entity);
            made += 1;
        }
    }
    out
}

/// Percentages of facts in each split.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SplitShares {
    pub both_languages: u32,
    pub never_seen: u32,
    /// Of the facts told in both languages, the share also in the instruction data.
    pub instructed: u32,
}

/// Draws each entity's facts and assigns each fact a split.
pub fn make_facts(
    rng: &mut SeededRng,
    entities: &[Entity],
    words: &dyn Fn(WordKind) -> Vec<String>,
    shares: SplitShares,
) -> Vec<Fact> {
    let of_kind = |k: EntityKind| -> Vec<usize> {
        (0..entities.len())
            .filter(|&i| entities[i].kind == k)
            .collect()
    };
    let mut facts = Vec::new();
    for (subject, entity) in entities.iter().enumerate() {
        for relation in Relation::ALL {
            if relation.subject_kind() != entity.kind {
                continue;
            }
            let object = match relation.object_kind() {
                ObjectKind::Year { from, to } => Value::Year(rng.between(from, to)),
                ObjectKind::Entity(kind) => Value::Entity(*rng.pick(&of_kind(kind))),
                ObjectKind::Word(kind) => Value::Word(rng.pick(&words(kind)).clone()),
            };
            let roll = rng.below(100) as u32;
            let split = if roll < shares.never_seen {
                Split::NeverSeen
            } else if roll < shares.never_seen + shares.both_languages {
                Split::BothLanguages
            } else {
                Split::EnglishOnly
            };
            let instructed = split == Split::BothLanguages && rng.percent(shares.instructed);
            facts.push(Fact {
                id: facts.len(),
                subject,
                relation,
                object,
                split,
                instructed,
            });
        }
    }
    facts
}
