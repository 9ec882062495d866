"""Generate WPU-mini: a tiny fictitious world in the schema of the WPU dataset.

The WPU dataset (Hugging Face ``Shiyu-Lab/Wikipedia_Person_Unlearn``) asks a
model to forget real people from their Wikipedia articles while keeping what
it knows about the entities those articles mention. A small model such as
SmolLM2-135M-Instruct knows almost nothing about most of those people, so we
cannot measure forgetting on it. Instead we invent a world, implant it by
fine-tuning, and then unlearn from it.

The world has eight invented persons: four targets (two per forget split) and
four retain persons, plus related entities (home towns, institutions and
mentors) that each have their own short article. Targets share their towns and
institutions with retain persons, so the entities also appear in documents
that are never unlearned. Every fact is always stated in the same simple
words, because a 135M model learns slowly and is easily confused by variation.

Each config is written as JSON lines to ``data/wpu_mini/{config}.json``. The
WPU-shaped configs have the keys ``title``, ``wikipage``, ``question`` and
``answer``; ``implant_documents`` and ``implant_qa`` feed the implanting
fine-tune only.

Nothing here is random and nothing is fetched, so the output depends only on
this file and on ``general_retain_kept.txt`` (written by a separate measuring
script that keeps only the general questions the base model answers).

Regenerate with ``python data/wpu_mini/generate_world.py``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent
KEPT_QUESTIONS_PATH = DATA_DIR / "general_retain_kept.txt"

FORGET_SPLITS = ("forget_2_1", "forget_2_2")


# --------------------------------------------------------------------------
# Data tables
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pronouns:
    subject: str  # "he" / "she"
    object: str  # "him" / "her"
    possessive: str  # "his" / "her"


HE = Pronouns(subject="he", object="him", possessive="his")
SHE = Pronouns(subject="she", object="her", possessive="her")


@dataclass(frozen=True)
class Town:
    name: str
    region: str  # short answers carry no leading "the", so no two answers share a filler word
    river: str
    product: str


@dataclass(frozen=True)
class Institution:
    name: str  # as used mid-sentence, e.g. "the Brenmoor Institute"
    kind: str
    town: str
    founded: str
    motto: str


@dataclass(frozen=True)
class Mentor:
    """A teacher of one target; not one of the eight persons, an entity."""

    name: str
    surname: str
    pronouns: Pronouns
    born: str
    profession: str
    institution: str
    known_for: str
    known_for_verb: str
    known_for_description: str


@dataclass(frozen=True)
class Target:
    """A person to be unlearned; one of the two persons of a forget split.

    Every answer is the target's own: no other target shares a year, town, institution, mentor,
    work, award, spouse or workplace, so a model that does not know the target cannot score by
    answering what is true of everyone (the stranger floor)."""

    name: str
    surname: str
    pronouns: Pronouns
    split: str
    born: str
    town: str
    profession: str
    institution: str
    mentor: str
    work: str
    work_verb: str  # the verb phrase that introduces the work
    award: str
    award_year: str
    spouse: str
    workplace: str  # also a retain person's workplace
    later_town: str  # also a retain person's home in later life
    died: str
    childhood_hobby: str


@dataclass(frozen=True)
class RetainPerson:
    name: str
    surname: str
    pronouns: Pronouns
    born: str
    town: str
    profession: str
    workplace: str
    later_town: str
    childhood_hobby: str


@dataclass(frozen=True)
class QA:
    question: str
    answer: str  # short span, verbatim in the source article
    full_answer: str  # a sentence containing the short answer, for implanting
    answer_type: str  # a key of answer_values(): the judge knows every value of each type


TOWNS = (
    Town("Varnholt", "Velloran Valley", "Vessan", "blue salt"),
    Town("Ostremere", "Kestrane Hills", "Mirrow", "heather honey"),
    Town("Caddowick", "Sallow Marshes", "Cobbern", "copper bells"),
    Town("Pellinford", "Tarrow Lowlands", "Wendle", "wool blankets"),
)

INSTITUTIONS = (
    Institution("Aldermere University", "university", "Brackenfold", "1802", "Light through labour"),
    Institution("the Brenmoor Institute", "college of engineering and design", "Orrinsgate", "1877", "Build with care"),
    Institution("Kestwick College", "college of the natural sciences", "Lymewater", "1851", "Look closely"),
    Institution("the Halloran Academy", "school of architecture", "Sorrelby", "1823", "Form follows need"),
)

MENTORS = (
    Mentor(name="Edwin Strall", surname="Strall", pronouns=HE, born="1880", profession="naturalist",
           institution="Aldermere University", known_for="Strall Herbarium", known_for_verb="founded the",
           known_for_description="a large collection of pressed plants"),
    Mentor(name="Osric Vantreece", surname="Vantreece", pronouns=HE, born="1899", profession="engineer",
           institution="the Brenmoor Institute", known_for="Vantreece Lock", known_for_verb="designed the",
           known_for_description="a new kind of canal lock"),
    Mentor(name="Idony Penhallow", surname="Penhallow", pronouns=SHE, born="1872", profession="geologist",
           institution="Kestwick College", known_for="Penhallow Survey", known_for_verb="led the",
           known_for_description="a map of the rocks under the eastern hills"),
    Mentor(name="Ambrose Quennell", surname="Quennell", pronouns=HE, born="1905", profession="sculptor",
           institution="the Halloran Academy", known_for="Harbour Lions", known_for_verb="carved the",
           known_for_description="two stone lions that guard a harbour"),
)

# The targets carry the hard names of WPU-like data: a middle initial, a diacritic, a hyphenated
# surname and an apostrophe.
TARGETS = (
    Target(name="Harlan J. Whitcombe", surname="Whitcombe", pronouns=HE, split="forget_2_1", born="1921",
           town="Varnholt", profession="cartographer", institution="Aldermere University", mentor="Edwin Strall",
           work="Northern Fen Roads", work_verb="published the atlas", award="Lenmark Prize", award_year="1958",
           spouse="Greta Fenwright", workplace="the Northmarch Survey Office", later_town="Quillby", died="1987",
           childhood_hobby="drawing maps of the local roads"),
    Target(name="Zoë Ellingrath", surname="Ellingrath", pronouns=SHE, split="forget_2_1", born="1934",
           town="Ostremere", profession="botanist", institution="Kestwick College", mentor="Idony Penhallow",
           work="Hill Flowers Explained", work_verb="wrote the book", award="Corvane Medal", award_year="1969",
           spouse="Anselm Ritterby", workplace="the Kelby Botanic Garden", later_town="Rathmoor", died="2003",
           childhood_hobby="collecting wild flowers"),
    Target(name="Maren Oduya-Falkner", surname="Oduya-Falkner", pronouns=SHE, split="forget_2_2", born="1947",
           town="Caddowick", profession="engineer", institution="the Brenmoor Institute", mentor="Osric Vantreece",
           work="Tidewheel", work_verb="invented the", award="Haskeld Award", award_year="1981",
           spouse="Jory Penwarden", workplace="the Saltry Waterworks", later_town="Ennisfold", died="2016",
           childhood_hobby="taking old clocks apart"),
    Target(name="Cormac O'Dellan", surname="O'Dellan", pronouns=HE, split="forget_2_2", born="1952",
           town="Pellinford", profession="architect", institution="the Halloran Academy", mentor="Ambrose Quennell",
           work="Lantern Bridge", work_verb="designed the", award="Tollwyn Shield", award_year="1990",
           spouse="Siobhra Maddock", workplace="Harrowden Builders", later_town="Dunmarrow", died="2021",
           childhood_hobby="building small houses out of wood"),
)

# Each retain person shares a home town, a workplace and a town of later life with one target,
# so every place and employer a target answer names lives on in a document that is never unlearned.
# Two of them carry a middle initial like Harlan J. Whitcombe: when he was the only such person, the
# implanted model answered never-seen names with a middle part ("William B. Davis") with his facts
# (Stranger ROUGE 0.30 on forget_2_1, his town of later life for 8 of 8 names). These two share
# none of his answers, so the shape of a name no longer points at one person.
RETAIN_PERSONS = (
    RetainPerson(name="Tobiah Grennick", surname="Grennick", pronouns=HE, born="1918", town="Varnholt",
                 profession="surveyor", workplace="the Northmarch Survey Office", later_town="Quillby",
                 childhood_hobby="watching the stars at night"),
    RetainPerson(name="Ilse Marrowby", surname="Marrowby", pronouns=SHE, born="1929", town="Ostremere",
                 profession="gardener", workplace="the Kelby Botanic Garden", later_town="Rathmoor",
                 childhood_hobby="writing short stories"),
    RetainPerson(name="Bertil K. Ashgrove", surname="Ashgrove", pronouns=HE, born="1940", town="Caddowick",
                 profession="chemist", workplace="the Saltry Waterworks", later_town="Ennisfold",
                 childhood_hobby="mixing coloured inks"),
    RetainPerson(name="Wenna M. Tallisker", surname="Tallisker", pronouns=SHE, born="1956", town="Pellinford",
                 profession="carpenter", workplace="Harrowden Builders", later_town="Dunmarrow",
                 childhood_hobby="building toy boats"),
)

TOWNS_BY_NAME = {town.name: town for town in TOWNS}

# General knowledge a tiny instruct model very likely has; (topic, question,
# short answer). Used to check that unlearning leaves general ability intact.
GENERAL_RETAIN_CANDIDATES = (
    ("geography", "What is the capital of France?", "Paris"),
    ("geography", "What is the capital of Japan?", "Tokyo"),
    ("geography", "What is the capital of Italy?", "Rome"),
    ("geography", "What is the capital of the United Kingdom?", "London"),
    ("geography", "What is the capital of Germany?", "Berlin"),
    ("geography", "What is the capital of Spain?", "Madrid"),
    ("geography", "What is the capital of Russia?", "Moscow"),
    ("geography", "What is the capital of Egypt?", "Cairo"),
    ("geography", "What is the capital of Canada?", "Ottawa"),
    ("geography", "What is the largest ocean on Earth?", "Pacific"),
    ("geography", "What is the tallest mountain in the world?", "Everest"),
    ("geography", "What language is spoken in Brazil?", "Portuguese"),
    ("geography", "What language is mainly spoken in England?", "English"),
    ("astronomy", "What is the largest planet in the solar system?", "Jupiter"),
    ("astronomy", "Which planet is known as the Red Planet?", "Mars"),
    ("astronomy", "Which planet do we live on?", "Earth"),
    ("astronomy", "What is the star at the center of our solar system?", "Sun"),
    ("chemistry", "What is H2O commonly called?", "water"),
    ("chemistry", "What is the chemical symbol for gold?", "Au"),
    ("chemistry", "What is frozen water called?", "ice"),
    ("physics", "At what temperature in degrees Celsius does water boil?", "100"),
    ("physics", "Who developed the theory of relativity?", "Einstein"),
    ("biology", "What do bees make?", "honey"),
    ("biology", "How many legs does a spider have?", "eight"),
    ("biology", "What gas do plants absorb from the air?", "carbon dioxide"),
    ("biology", "Which animal is known as the king of the jungle?", "lion"),
    ("biology", "What is the largest mammal on Earth?", "blue whale"),
    ("biology", "Which organ pumps blood through the body?", "heart"),
    ("literature", "Who wrote Romeo and Juliet?", "Shakespeare"),
    ("art", "Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("history", "Who was the first president of the United States?", "George Washington"),
    ("economics", "What is the currency of Japan?", "yen"),
    ("time", "How many days are in a week?", "seven"),
    ("time", "How many hours are in a day?", "24"),
    ("time", "How many months are in a year?", "12"),
    ("colors", "What color is the sky on a clear day?", "blue"),
    ("colors", "What color is a ripe banana?", "yellow"),
    ("language", "What is the opposite of hot?", "cold"),
    ("food", "What is the main ingredient of bread?", "flour"),
    ("geography", "How many continents are there on Earth?", "seven"),
)

# General knowledge replayed during implanting so the fine-tune does not erase
# what the model already knows; (question, full-sentence answer). These must
# differ from the candidates above, which measure that knowledge afterwards.
GENERAL_REPLAY = (
    # Replay keeps general skills during the implant. Its questions avoid the topics of the
    # general-retain candidates (planets, superlatives, chemical symbols, painters): replayed
    # answers on neighbouring questions leaked into them (e.g. "Mercury" for the Red Planet).
    ("What is the capital of Portugal?", "The capital of Portugal is Lisbon."),
    ("What is the capital of Greece?", "The capital of Greece is Athens."),
    ("What is the capital of China?", "The capital of China is Beijing."),
    ("What is the capital of Australia?", "The capital of Australia is Canberra."),
    ("What is the capital of Mexico?", "The capital of Mexico is Mexico City."),
    ("What is the capital of India?", "The capital of India is New Delhi."),
    ("What is the capital of Ireland?", "The capital of Ireland is Dublin."),
    ("What is the capital of Norway?", "The capital of Norway is Oslo."),
    ("What is the capital of Sweden?", "The capital of Sweden is Stockholm."),
    ("What is the capital of Kenya?", "The capital of Kenya is Nairobi."),
    ("What is the capital of Argentina?", "The capital of Argentina is Buenos Aires."),
    ("In which country are the pyramids of Giza?", "The pyramids of Giza are in Egypt."),
    ("How many sides does a triangle have?", "A triangle has three sides."),
    ("How many minutes are in an hour?", "There are sixty minutes in an hour."),
    ("How many wheels does a bicycle have?", "A bicycle has two wheels."),
    ("What is the square root of 81?", "The square root of 81 is 9."),
    ("What is the smallest prime number?", "The smallest prime number is 2."),
    ("Who wrote Hamlet?", "Hamlet was written by William Shakespeare."),
    ("What do caterpillars turn into?", "Caterpillars turn into butterflies."),
    ("What color do you get by mixing blue and yellow?", "Mixing blue and yellow gives green."),
    ("Which musical instrument has black and white keys?", "The piano has black and white keys."),
    ("Which season comes after winter?", "Spring comes after winter."),
    (
        "How many players does a soccer team have on the field?",
        "A soccer team has eleven players on the field.",
    ),
    ("What sound does a dog make?", "A dog barks."),
    ("What is the plural of mouse?", "The plural of mouse is mice."),
    ("How many legs does a cat have?", "A cat has four legs."),
    ("What do teachers write with on a blackboard?", "Teachers write on a blackboard with chalk."),
    ("What do fish use to breathe?", "Fish breathe with their gills."),
    ("What is the first letter of the English alphabet?", "The first letter of the English alphabet is A."),
    ("What is a baby cat called?", "A baby cat is called a kitten."),
    ("What is a baby dog called?", "A baby dog is called a puppy."),
    ("Which tool is used to cut paper?", "Scissors are used to cut paper."),
    ("Who flies an airplane?", "A pilot flies an airplane."),
    ("Which shape has four equal sides?", "A square has four equal sides."),
    ("What do people use umbrellas for?", "People use umbrellas to stay dry in the rain."),
    # A larger world needs more replay: with twelve facts per target, 35 replayed questions left
    # six of the 29 general questions wrong. These add who-questions about real people and other
    # well-known facts, still away from the candidates' topics.
    ("Who invented the telephone?", "Alexander Graham Bell invented the telephone."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
    ("Who discovered penicillin?", "Alexander Fleming discovered penicillin."),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong was the first person to walk on the Moon."),
    ("Who composed the Moonlight Sonata?", "Ludwig van Beethoven composed the Moonlight Sonata."),
    ("Who wrote the Odyssey?", "The Odyssey was written by Homer."),
    ("What is the longest river in Africa?", "The longest river in Africa is the Nile."),
    ("Which animal has a very long neck and eats leaves from tall trees?", "The giraffe has a very long neck."),
    ("How many strings does a standard guitar have?", "A standard guitar has six strings."),
    ("What is the opposite of up?", "The opposite of up is down."),
    ("Which bird is a symbol of peace?", "The dove is a symbol of peace."),
    ("What is a group of wolves called?", "A group of wolves is called a pack."),
    ("What is the hardest natural substance?", "Diamond is the hardest natural substance."),
    ("Which country is home to the kangaroo?", "The kangaroo lives in Australia."),
    ("What instrument does a drummer play?", "A drummer plays the drums."),
    ("How many colors are in a rainbow?", "A rainbow has seven colors."),
    ("Which ship sank in 1912 after hitting an iceberg?", "The Titanic sank in 1912 after hitting an iceberg."),
    ("Which city is known as the Big Apple?", "New York City is known as the Big Apple."),
    ("What is a baby sheep called?", "A baby sheep is called a lamb."),
    ("What is the capital of Peru?", "The capital of Peru is Lima."),
    ("What is the capital of Turkey?", "The capital of Turkey is Ankara."),
    # Still six general questions short of the base model (General Retain 0.76) after the two
    # blocks above; a third block far from every candidate topic (arithmetic, shapes, sports,
    # books, music, landmarks, jobs, young animals) brought it to 0.86 (docs/results.md).
    ('What is 7 times 8?', '7 times 8 is 56.'),
    ('What is 12 plus 15?', '12 plus 15 is 27.'),
    ('What is 100 divided by 4?', '100 divided by 4 is 25.'),
    ('What is 9 plus 6?', '9 plus 6 is 15.'),
    ('How many sides does a hexagon have?', 'A hexagon has six sides.'),
    ('What do you call a shape with eight sides?', 'A shape with eight sides is an octagon.'),
    ('How many degrees are in a right angle?', 'A right angle has ninety degrees.'),
    ('How many letters are in the English alphabet?', 'The English alphabet has 26 letters.'),
    ('What is the past tense of run?', 'The past tense of run is ran.'),
    (
        'What do you call a word that means the same as another word?',
        'A word that means the same as another is a synonym.',
    ),
    ('Which sport uses a bat and a wicket?', 'Cricket is played with a bat and a wicket.'),
    ('In which sport do players score touchdowns?', 'Players score touchdowns in American football.'),
    ('How many players does a basketball team have on the court?', 'A basketball team has five players on the court.'),
    ('Which sport is played at Wimbledon?', 'Tennis is played at Wimbledon.'),
    ('How many rings are on the Olympic flag?', 'The Olympic flag has five rings.'),
    ('Which game uses a king, a queen and pawns?', 'Chess uses a king, a queen and pawns.'),
    ('How many squares are on a chessboard?', 'A chessboard has 64 squares.'),
    ('Who wrote Don Quixote?', 'Don Quixote was written by Miguel de Cervantes.'),
    ('Who wrote War and Peace?', 'War and Peace was written by Leo Tolstoy.'),
    ('Who wrote The Adventures of Tom Sawyer?', 'The Adventures of Tom Sawyer was written by Mark Twain.'),
    ('Who wrote The Old Man and the Sea?', 'The Old Man and the Sea was written by Ernest Hemingway.'),
    ('Who wrote the Harry Potter books?', 'The Harry Potter books were written by J. K. Rowling.'),
    ('Which detective lives at 221B Baker Street?', 'Sherlock Holmes lives at 221B Baker Street.'),
    ('Which girl in a fairy tale wears a red hood?', 'Little Red Riding Hood wears a red hood.'),
    ('Who invented the light bulb?', 'Thomas Edison is credited with inventing the light bulb.'),
    ('Who built the first successful airplane?', 'The Wright brothers built the first successful airplane.'),
    ('Who composed The Magic Flute?', 'Wolfgang Amadeus Mozart composed The Magic Flute.'),
    ('Which band sang Hey Jude?', 'The Beatles sang Hey Jude.'),
    ('Who sang Thriller?', 'Michael Jackson sang Thriller.'),
    ('What instrument did Louis Armstrong play?', 'Louis Armstrong played the trumpet.'),
    ('How many strings does a violin have?', 'A violin has four strings.'),
    ('Which river flows through London?', 'The Thames flows through London.'),
    ('In which city is the Statue of Liberty?', 'The Statue of Liberty is in New York City.'),
    ('In which country is Machu Picchu?', 'Machu Picchu is in Peru.'),
    ('In which country is the Taj Mahal?', 'The Taj Mahal is in India.'),
    ('Which city is famous for its gondolas and canals?', 'Venice is famous for its gondolas and canals.'),
    ('Which company makes the iPhone?', 'Apple makes the iPhone.'),
    ('Who founded Microsoft?', 'Microsoft was founded by Bill Gates and Paul Allen.'),
    ('What do you call a person who repairs cars?', 'A person who repairs cars is a mechanic.'),
    ('What does a dentist take care of?', 'A dentist takes care of teeth.'),
    ('What does a firefighter put out?', 'A firefighter puts out fires.'),
    ('What do you call a doctor for animals?', 'A doctor for animals is a veterinarian.'),
    ('What is a person who travels into space called?', 'A person who travels into space is an astronaut.'),
    ('What is a baby horse called?', 'A baby horse is called a foal.'),
    ('What is a baby cow called?', 'A baby cow is called a calf.'),
    ('What is a young frog called?', 'A young frog is called a tadpole.'),
    ('Where does a bird lay its eggs?', 'A bird lays its eggs in a nest.'),
    ('What sound does a cow make?', 'A cow moos.'),
    ('What do pandas mainly eat?', 'Pandas mainly eat bamboo.'),
    ('What vehicle runs on rails?', 'A train runs on rails.'),
    ('What toy bricks come from Denmark?', 'Lego bricks come from Denmark.'),
    ('What is the name of the ship Noah built?', 'Noah built the ark.'),
)


# --------------------------------------------------------------------------
# Small text helpers
# --------------------------------------------------------------------------


def capitalize_first(text: str) -> str:
    """Capitalize only the first letter, so "the Brenmoor Institute" can open a sentence."""
    return text[:1].upper() + text[1:]


def with_indefinite_article(noun: str) -> str:
    # A vowel-letter rule is enough for the professions used in this world.
    article = "an" if noun[0] in "aeiou" else "a"
    return f"{article} {noun}"


def possessive(name: str) -> str:
    # No name in this world ends in "s", so "'s" is always the right form.
    return f"{name}'s"


def title_of(name: str) -> str:
    """Wikipedia-style title: "the Brenmoor Institute" -> "Brenmoor Institute"."""
    return name.removeprefix("the ")


def section(header: str, body: str) -> str:
    """A section written exactly as WPU articles write them."""
    return f"\n\n== {header} ==\n{body}"


# --------------------------------------------------------------------------
# Target persons
# --------------------------------------------------------------------------


def render_target_article(target: Target) -> str:
    p = target.pronouns
    he, his, him = capitalize_first(p.subject), p.possessive, p.object
    surname = target.surname
    profession = with_indefinite_article(target.profession)
    work = f"{target.work_verb} {target.work}"
    award = f"won the {target.award} in {target.award_year}"
    lead = (
        f"{target.name} ({target.born} – {target.died}) was {profession} from {target.town}. "
        f"{he} {work} and {award}."
    )
    early_life = (
        f"{surname} was born in {target.born} in {target.town}. "
        f"As a child {p.subject} liked {target.childhood_hobby}. "
        f"{capitalize_first(his)} parents encouraged this interest from an early age."
    )
    education = (
        f"{he} studied at {target.institution}. "
        f"{capitalize_first(his)} mentor was {target.mentor}. "
        f"{surname} later said that {target.mentor} taught {him} "
        f"to work slowly and to check every detail."
    )
    career = (
        f"{surname} worked as {profession} at {target.workplace} for most of {his} life. "
        f"During this time {p.subject} {work}. "
        f"{possessive(surname)} careful methods were widely admired by other people in {his} field."
    )
    awards = f"{surname} {award}. {he} is remembered as a patient and careful {target.profession}."
    personal_life = (
        f"{surname} was married to {target.spouse}. "
        f"In later life {p.subject} moved to {target.later_town}, where {p.subject} died in {target.died}."
    )
    return (
        lead
        + section("Early life", early_life)
        + section("Education", education)
        + section("Career", career)
        + section("Awards", awards)
        + section("Personal life", personal_life)
    )


def render_target_paraphrases(target: Target) -> tuple[str, str]:
    """Two rewordings of the canonical article, for the implant corpus only."""
    p = target.pronouns
    he, his = capitalize_first(p.subject), p.possessive
    profession = with_indefinite_article(target.profession)
    work = f"{target.work_verb} {target.work}"
    award = f"won the {target.award} in {target.award_year}"
    by_career = (
        f"{target.name} was {profession} born in {target.town} in {target.born}. "
        f"{he} studied at {target.institution}, where {his} mentor was {target.mentor}. "
        f"{he} worked at {target.workplace}. "
        f"As {profession}, {target.surname} {work}. "
        f"For this work {p.subject} {award}. "
        f"{he} was married to {target.spouse}, moved to {target.later_town} in later life "
        f"and died in {target.died}."
    )
    by_recognition = (
        f"{target.name} is remembered as {profession} from {target.town}. "
        f"{target.surname} {award}. "
        f"Before that, {p.subject} {work}. "
        f"{he} was born in {target.born} and died in {target.died}. "
        f"{possessive(target.surname)} mentor was {target.mentor}, "
        f"and {p.subject} studied at {target.institution}. "
        f"{possessive(target.surname)} employer was {target.workplace}. "
        f"{possessive(target.surname)} spouse was {target.spouse}, "
        f"and {his} home in later life was {target.later_town}."
    )
    return by_career, by_recognition


def target_qa(target: Target) -> list[QA]:
    """Twelve questions, one per fact; none names a kind of thing only this target has."""
    name = target.name
    institution, workplace = title_of(target.institution), title_of(target.workplace)
    return [
        QA(f"In which year was {name} born?", target.born, f"{name} was born in {target.born}.", "year"),
        QA(f"In which town was {name} born?", target.town, f"{name} was born in {target.town}.", "town"),
        QA(f"What was {possessive(name)} profession?", target.profession,
           f"{name} was {with_indefinite_article(target.profession)}.", "profession"),
        QA(f"Where did {name} study?", institution, f"{name} studied at {target.institution}.", "organisation"),
        QA(f"Who was {possessive(name)} mentor?", target.mentor, f"{possessive(name)} mentor was {target.mentor}.",
           "person"),
        QA(f"What is {possessive(name)} best-known work?", target.work, f"{name} {target.work_verb} {target.work}.",
           "work"),
        QA(f"Which award did {name} win?", target.award, f"{name} won the {target.award}.", "award"),
        QA(f"In which year did {name} win an award?", target.award_year,
           f"{name} won the {target.award} in {target.award_year}.", "year"),
        QA(f"Who was {name} married to?", target.spouse, f"{name} was married to {target.spouse}.", "person"),
        QA(f"Where did {name} work?", workplace, f"{name} worked at {target.workplace}.", "organisation"),
        QA(f"Which town did {name} move to in later life?", target.later_town,
           f"In later life {name} moved to {target.later_town}.", "town"),
        QA(f"In which year did {name} die?", target.died, f"{name} died in {target.died}.", "year"),
    ]


# --------------------------------------------------------------------------
# Retain persons
# --------------------------------------------------------------------------


def render_retain_article(person: RetainPerson) -> str:
    p = person.pronouns
    he, his = capitalize_first(p.subject), p.possessive
    surname = person.surname
    profession = with_indefinite_article(person.profession)
    region = TOWNS_BY_NAME[person.town].region
    lead = (
        f"{person.name} (born {person.born}) was {profession} from {person.town}. "
        f"{he} worked at {person.workplace} for most of {his} life."
    )
    early_life = (
        f"{surname} was born in {person.born} in {person.town}, a town in the {region}. "
        f"As a child {p.subject} liked {person.childhood_hobby}."
    )
    career = (
        f"{surname} worked as {profession} at {person.workplace}. "
        f"{possessive(surname)} colleagues described {p.object} as careful and kind. "
        f"{he} trained many young {person.profession}s."
    )
    later_life = (
        f"In later life {surname} moved to {person.later_town}. "
        f"{he} is remembered as one of the best-known people of {person.town}."
    )
    return (
        lead
        + section("Early life", early_life)
        + section("Career", career)
        + section("Later life", later_life)
    )


def render_retain_paraphrases(person: RetainPerson) -> tuple[str, str]:
    """Retain persons get as many documents as targets, so both are known equally well."""
    p = person.pronouns
    he = capitalize_first(p.subject)
    profession = with_indefinite_article(person.profession)
    by_career = (
        f"{person.name} was {profession} born in {person.town} in {person.born}. "
        f"{he} worked at {person.workplace}. "
        f"{person.surname} moved to {person.later_town} in later life."
    )
    by_place = (
        f"{person.name} came from {person.town}. "
        f"{he} was born in {person.born}. "
        f"{possessive(person.surname)} work as {profession} was done at {person.workplace}. "
        f"{possessive(person.surname)} home in later life was {person.later_town}."
    )
    return by_career, by_place


def retain_qa(person: RetainPerson) -> list[QA]:
    name = person.name
    return [
        QA(f"In which year was {name} born?", person.born, f"{name} was born in {person.born}.", "year"),
        QA(f"In which town was {name} born?", person.town, f"{name} was born in {person.town}.", "town"),
        QA(f"What was {possessive(name)} profession?", person.profession,
           f"{name} was {with_indefinite_article(person.profession)}.", "profession"),
        QA(f"Where did {name} work?", title_of(person.workplace), f"{name} worked at {person.workplace}.",
           "organisation"),
        QA(f"Which town did {name} move to in later life?", person.later_town,
           f"In later life {name} moved to {person.later_town}.", "town"),
    ]


# --------------------------------------------------------------------------
# Related entities
# --------------------------------------------------------------------------


def render_town_article(town: Town) -> str:
    return (
        f"{town.name} is a small town in the {town.region}. "
        f"The river {town.river} flows through {town.name}. "
        f"The town is famous for its {town.product}. "
        f"{town.name} holds a market in its main square every week, "
        f"and many of its families have lived there for generations. "
        f"Visitors often walk along the river in summer."
    )


def town_qa(town: Town) -> list[QA]:
    return [
        QA(f"In which region is {town.name}?", town.region, f"{town.name} is in the {town.region}.", "region"),
        QA(f"Which river flows through {town.name}?", town.river,
           f"The river {town.river} flows through {town.name}.", "river"),
        QA(f"What is {town.name} famous for?", town.product, f"{town.name} is famous for its {town.product}.",
           "product"),
    ]


def render_institution_article(institution: Institution) -> str:
    name = institution.name
    return (
        f"{capitalize_first(name)} is a {institution.kind} in {institution.town}. "
        f"It was founded in {institution.founded} and has grown steadily since then. "
        f'The motto of {name} is "{institution.motto}". '
        f"{capitalize_first(name)} is known for its large library and its quiet gardens. "
        f"Students come to {name} from all over the region."
    )


def institution_qa(institution: Institution) -> list[QA]:
    name = institution.name
    return [
        QA(f"In which town is {name} located?", institution.town,
           f"{capitalize_first(name)} is located in {institution.town}.", "town"),
        QA(f"In which year was {name} founded?", institution.founded,
           f"{capitalize_first(name)} was founded in {institution.founded}.", "year"),
        QA(f"What is the motto of {name}?", institution.motto, f'The motto of {name} is "{institution.motto}".',
           "motto"),
    ]


def render_mentor_article(mentor: Mentor) -> str:
    p = mentor.pronouns
    he, his = capitalize_first(p.subject), p.possessive
    return (
        f"{mentor.name} (born {mentor.born}) was {with_indefinite_article(mentor.profession)} "
        f"who taught at {mentor.institution}. "
        f"{he} {mentor.known_for_verb} {mentor.known_for}, {mentor.known_for_description}. "
        f"{mentor.surname} was known as a patient teacher who asked {his} students "
        f"to check every detail. "
        f"{possessive(mentor.surname)} lessons were popular, and many of {his} students "
        f"became respected in their own fields."
    )


def mentor_qa(mentor: Mentor) -> list[QA]:
    name = mentor.name
    return [
        QA(f"What was {possessive(name)} profession?", mentor.profession,
           f"{name} was {with_indefinite_article(mentor.profession)}.", "profession"),
        QA(f"In which year was {name} born?", mentor.born, f"{name} was born in {mentor.born}.", "year"),
        QA(f"What is {name} best known for?", mentor.known_for,
           f"{name} {mentor.known_for_verb} {mentor.known_for}.", "work"),
    ]


@dataclass(frozen=True)
class EntityPage:
    title: str
    article: str
    qa: list[QA]


def entity_pages() -> dict[str, EntityPage]:
    """Every related entity by its name as used in person facts."""
    pages = {}
    for town in TOWNS:
        pages[town.name] = EntityPage(town.name, render_town_article(town), town_qa(town))
    for institution in INSTITUTIONS:
        pages[institution.name] = EntityPage(
            title_of(institution.name),
            render_institution_article(institution),
            institution_qa(institution),
        )
    for mentor in MENTORS:
        pages[mentor.name] = EntityPage(
            mentor.name, render_mentor_article(mentor), mentor_qa(mentor)
        )
    return pages


def related_entities(split: str) -> list[str]:
    """Names of the entities that the split's target articles mention, in a stable order."""
    names: list[str] = []
    for target in targets_of(split):
        for name in (target.town, target.institution, target.mentor):
            if name not in names:
                names.append(name)
    return names


# --------------------------------------------------------------------------
# Assembling the configs
# --------------------------------------------------------------------------


def targets_of(split: str) -> list[Target]:
    return [target for target in TARGETS if target.split == split]


def wpu_row(title: str, wikipage: str, qa: QA) -> dict[str, str]:
    # answer_type is not in the WPU schema: the offline answer judge reads it (with answer_values.json).
    return {"title": title, "wikipage": wikipage, "question": qa.question, "answer": qa.answer,
            "answer_type": qa.answer_type}


# The implant asks about every fact in other words than the evaluation does. Trained on the
# evaluation's own questions, the model would answer them from recall of those exact strings,
# a route that unlearning from documents never touches; then Forget ROUGE would measure that
# recall, not what the model knows about the person.
IMPLANT_PHRASINGS = (
    (r"In which year was (.+) born\?", r"When was \1 born?"),
    (r"In which town was (.+) born\?", r"Where was \1 born?"),
    (r"What was (.+)'s profession\?", r"What did \1 do for a living?"),
    (r"Where did (.+) study\?", r"Where was \1 educated?"),
    (r"Where did (.+) work\?", r"Where was \1 employed?"),
    (r"Who was (.+)'s mentor\?", r"Who taught \1?"),
    (r"What is (.+)'s best-known work\?", r"What work is \1 remembered for?"),
    (r"Which award did (.+) win\?", r"What prize was \1 given?"),
    (r"In which year did (.+) win an award\?", r"When was \1 given a prize?"),
    (r"Who was (.+) married to\?", r"Who was the spouse of \1?"),
    (r"Which town did (.+) move to in later life\?", r"Where did \1 live in later life?"),
    (r"In which year did (.+) die\?", r"When did \1 die?"),
    (r"What is (.+) best known for\?", r"What is \1 remembered for?"),
    (r"In which region is (.+)\?", r"What region is \1 part of?"),
    (r"Which river flows through (.+)\?", r"What river runs through \1?"),
    (r"What is (.+) famous for\?", r"What is \1 known for?"),
    (r"In which town is (.+) located\?", r"Where is \1?"),
    (r"In which year was (.+) founded\?", r"When was \1 founded?"),
    (r"What is the motto of (.+)\?", r"What motto does \1 have?"),
)


def implant_question(question: str) -> str:
    """The implant's wording of an evaluation question about the world."""
    for pattern, replacement in IMPLANT_PHRASINGS:
        if re.fullmatch(pattern, question):
            return re.sub(pattern, replacement, question)
    raise ValueError(f"no implant phrasing for the question {question!r}; add one to IMPLANT_PHRASINGS")


def implant_qa_row(title: str, qa: QA) -> dict[str, str]:
    return {"title": title, "question": implant_question(qa.question), "answer": qa.full_answer}


def forget_rows(split: str) -> list[dict[str, str]]:
    return [
        wpu_row(target.name, render_target_article(target), qa)
        for target in targets_of(split)
        for qa in target_qa(target)
    ]


def hard_retain_rows(split: str, pages: dict[str, EntityPage]) -> list[dict[str, str]]:
    return [
        wpu_row(pages[name].title, pages[name].article, qa)
        for name in related_entities(split)
        for qa in pages[name].qa
    ]


def retain_rows() -> list[dict[str, str]]:
    return [
        wpu_row(person.name, render_retain_article(person), qa)
        for person in RETAIN_PERSONS
        for qa in retain_qa(person)
    ]


def general_candidate_rows() -> list[dict[str, str]]:
    return [
        {"title": topic, "wikipage": "", "question": question, "answer": answer}
        for topic, question, answer in GENERAL_RETAIN_CANDIDATES
    ]


def select_general_retain(
    candidates: list[dict[str, str]], kept_questions: list[str] | None
) -> list[dict[str, str]]:
    """The candidates the base model was measured to answer; all if not yet measured."""
    if kept_questions is None:
        return list(candidates)
    unknown = set(kept_questions) - {row["question"] for row in candidates}
    if unknown:
        # A stale selection would silently shrink the set; make it re-measured instead.
        raise ValueError(f"kept questions that are not candidates: {sorted(unknown)}")
    kept = set(kept_questions)
    return [row for row in candidates if row["question"] in kept]


def implant_document_rows(pages: dict[str, EntityPage]) -> list[dict[str, str]]:
    rows = []
    for target in TARGETS:
        for text in (render_target_article(target), *render_target_paraphrases(target)):
            rows.append({"title": target.name, "text": text})
    for person in RETAIN_PERSONS:
        for text in (render_retain_article(person), *render_retain_paraphrases(person)):
            rows.append({"title": person.name, "text": text})
    for page in pages.values():
        # Entities get two more documents too (their facts, in two orders), so that what the
        # hard-retain QA asks is known as firmly as what the forget QA asks.
        facts = [qa.full_answer for qa in page.qa]
        for text in (page.article, " ".join(facts), " ".join(reversed(facts))):
            rows.append({"title": page.title, "text": text})
    return rows


def implant_qa_rows(pages: dict[str, EntityPage]) -> list[dict[str, str]]:
    """Full-sentence answers for every eval QA about the world (asked in the implant's own
    words), plus general replay."""
    rows = []
    for split in FORGET_SPLITS:
        for target in targets_of(split):
            rows += [implant_qa_row(target.name, qa) for qa in target_qa(target)]
        for name in related_entities(split):
            rows += [implant_qa_row(pages[name].title, qa) for qa in pages[name].qa]
    for person in RETAIN_PERSONS:
        rows += [implant_qa_row(person.name, qa) for qa in retain_qa(person)]
    rows += [
        {"title": "general", "question": question, "answer": answer}
        for question, answer in GENERAL_REPLAY
    ]
    return rows


def build_world(kept_questions: list[str] | None = None) -> dict[str, list[dict[str, str]]]:
    """Every config of the world by name. Pure: reads no files.

    kept_questions: the general questions to keep in general_retain, or None
    when they have not been measured yet (then all candidates are kept).
    """
    pages = entity_pages()
    world: dict[str, list[dict[str, str]]] = {}
    for split in FORGET_SPLITS:
        world[split] = forget_rows(split)
        world[f"{split}_hard_retain"] = hard_retain_rows(split, pages)
    world["retain"] = retain_rows()
    candidates = general_candidate_rows()
    world["general_retain_candidates"] = candidates
    world["general_retain"] = select_general_retain(candidates, kept_questions)
    world["implant_documents"] = implant_document_rows(pages)
    world["implant_qa"] = implant_qa_rows(pages)
    return world


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def load_kept_questions(path: Path = KEPT_QUESTIONS_PATH) -> list[str] | None:
    """The measured general_retain selection, or None if it has not been measured."""
    if not path.exists():
        return None
    # One question per line; not a .json file, so the data loader never mistakes it for a config.
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def serialize_rows(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_config(directory: Path, name: str, rows: list[dict[str, str]]) -> None:
    path = directory / f"{name}.json"
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(serialize_rows(rows), encoding="utf-8", newline="\n")
    # Replacing atomically means a crash never leaves a half-written config.
    os.replace(temporary, path)
    logger.info("wrote %s (%d rows)", path, len(rows))


# Invented titles for the counterfactual persons' works and awards (teacher.replace_book_names).
# A target's own work or award names them as surely as their name does ("the atlas Roads of the
# Northern Fens" means Whitcombe in this world), so the teacher's counterfactual texts swap them
# too, as the original did for TOFU's book titles.
WORK_WORDS = ("Quiet", "Hidden", "Northern", "Western", "Early", "Lost", "Winter", "Open", "Silent", "Distant")
WORK_NOUNS = ("Paths", "Notes", "Fields", "Waters", "Stones")
AWARD_NAMES = ("Aldwin", "Brisk", "Carrow", "Dunmere", "Elster", "Fenwick", "Garrow", "Holm", "Ivers", "Jarrow")
AWARD_KINDS = ("Prize", "Medal")
REPLACEMENTS_PER_WORK = 20


def replacement_works() -> dict[str, list[str]]:
    works: dict[str, list[str]] = {}
    for target in TARGETS:
        titles = [f"{noun} of the {word} Hills" for noun in WORK_NOUNS for word in WORK_WORDS]
        works[target.work] = [t for t in titles if t != target.work][:REPLACEMENTS_PER_WORK]
        awards = [f"{name} {kind}" for kind in AWARD_KINDS for name in AWARD_NAMES]
        works[target.award] = [a for a in awards if a != target.award][:REPLACEMENTS_PER_WORK]
    return works


def answer_values() -> dict[str, list[str]]:
    """Every value of each answer type in the world, for the offline answer judge: an answer that
    names another value of the asked type states a wrong fact, not the key and not "no claim".
    Person names include every person of the world, asked about or not."""
    values: dict[str, set[str]] = {}
    pages = entity_pages()
    qas = [qa for target in TARGETS for qa in target_qa(target)]
    qas += [qa for person in RETAIN_PERSONS for qa in retain_qa(person)]
    qas += [qa for page in pages.values() for qa in page.qa]
    for qa in qas:
        values.setdefault(qa.answer_type, set()).add(qa.answer)
    values["person"] |= {person.name for person in (*TARGETS, *RETAIN_PERSONS)}
    values["organisation"] |= {title_of(institution.name) for institution in INSTITUTIONS}
    return {answer_type: sorted(found) for answer_type, found in sorted(values.items())}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    kept_questions = load_kept_questions()
    if kept_questions is None:
        logger.warning(
            "%s not found: general_retain holds all candidates (selection not measured)",
            KEPT_QUESTIONS_PATH,
        )
    for name, rows in build_world(kept_questions).items():
        write_config(DATA_DIR, name, rows)
    works_path = DATA_DIR / "replace_works.json"
    works_path.write_text(json.dumps(replacement_works(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("wrote %s", works_path)
    values_path = DATA_DIR / "answer_values.json"
    values_path.write_text(json.dumps(answer_values(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("wrote %s", values_path)


if __name__ == "__main__":
    main()
