//! Domain names: generated in styles that differ by class and DGA family, or taken from real
//! lists (`--names-from`).
//!
//! Generated benign and phishing-style labels are injective in the entity's global id (a
//! bijection onto word pairs plus a syllable tail), so two entities never share a name;
//! DGA labels are drawn from the id's hash in their family's style.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use crate::error::{Error, Result};
use crate::rng::{Draw, derive, stream, unit_from};

const BENIGN_WORDS: &str = "\
    sun river stone cloud blue green red gold silver north south east west ocean lake forest \
    tree leaf rock sky star moon light bright swift smart quick happy fresh pure wild urban \
    city town home house garden field farm park bridge road path trail way port harbor bay \
    coast island valley hill peak summit alpine nordic metro global local prime core first \
    best top true open free easy simple clear clean fine good great grand royal noble brave \
    bold iron steel copper glass paper book page note word story news media press radio \
    video photo pixel studio design craft art music sound tune song beat dance game play \
    sport team club school learn study mind brain idea spark flame fire water wave tide wind \
    storm rain snow frost ice winter summer spring autumn day night dawn dusk time clock \
    data cloudy byte code soft tech net web link node hub base lab works shop store market \
    trade deal price cart buy sell pay bank coin fund cash credit loan money rich health \
    care med doctor clinic pharma food cook chef kitchen bread cake coffee tea wine beer \
    fruit apple lemon cherry berry honey sugar salt pepper spice travel tour trip hotel room \
    stay car auto motor drive ride bike wheel fly jet air plane ship boat sail anchor fish \
    bird eagle hawk wolf bear fox lion tiger horse dog cat pet kids baby family friend love \
    heart soul life live well yoga fit gym run walk zone spot point line circle square cube \
    box frame view look vision focus pro plus max mega micro nano ultra super hyper digital \
    cyber smartly";

const PHISH_WORDS: &str = "\
    secure login account verify update service support help desk confirm billing invoice \
    payment wallet alert notice safety access portal signin auth session token recovery \
    unlock reset center office client customer member online mobile app mail inbox docs \
    share file delivery parcel tracking refund bonus prize reward gift promo offer win claim \
    check status validate review official admin host server panel sync backup storage";

const DGA_WORDS: &str = "\
    about above across action active actor adult advice affect afford afraid agency agent \
    agree ahead alarm album alive allow almost alone along already always amount anger angle \
    animal answer anyone appear argue arise around arrive artist aside assume attack attempt \
    avoid award aware badly balance barely battle beach beauty become before begin behind \
    belief belong below beside better beyond birth black blade blame blind block blood board \
    bored borrow bottle bottom branch breath brief bring broad broken brown budget build \
    burden burn button cable camera cancel carbon career carry catch cause cell chain chair \
    chance change charge cheap chest chief child choice choose church civil class climb \
    close coach collar column combat comedy common copy corner cotton count couple course \
    cousin cover crack crazy create crime crisis critic crowd crucial cruel culture cup \
    curious current curve custom cycle damage danger dealer debate decade decide deep defeat \
    defend degree delay demand deny depend depth desert desire detail device differ dinner \
    direct dirty dish divide domain double doubt dozen draft drama dream dress drink drop \
    during eager early earth easily eaten edge effect effort eight either elder elect else \
    empty enable enemy energy engine enjoy enough enter entire equal error escape essay \
    estate ethnic even event ever exact exam excuse exist expand expect expert extend extra \
    fabric facing factor fail fairly faith false fame fancy fashion father fault favor fear \
    feature federal fellow female fence fiber fifteen fight figure final finger finish";

static BENIGN: LazyLock<Vec<&'static str>> = LazyLock::new(|| BENIGN_WORDS.split(' ').collect());
static PHISH: LazyLock<Vec<&'static str>> = LazyLock::new(|| PHISH_WORDS.split(' ').collect());
static DGA: LazyLock<Vec<&'static str>> = LazyLock::new(|| DGA_WORDS.split(' ').collect());

const CONSONANTS: &[u8] = b"bcdfghjklmnprstvz";
const VOWELS: &[u8] = b"aeiou";

/// Weighted top-level domains; co.uk and com.br keep the registered-domain logic honest.
const BENIGN_TLDS: &[(&str, u32)] = &[
    ("com", 50),
    ("net", 8),
    ("org", 8),
    ("de", 5),
    ("co.uk", 4),
    ("ru", 4),
    ("fr", 3),
    ("nl", 3),
    ("info", 2),
    ("io", 2),
    ("co.jp", 2),
    ("it", 2),
    ("es", 2),
    ("pl", 2),
    ("com.br", 2),
    ("com.au", 1),
];

const MALICIOUS_TLDS: &[(&str, u32)] = &[
    ("com", 30),
    ("net", 5),
    ("org", 5),
    ("ru", 6),
    ("info", 6),
    ("xyz", 6),
    ("top", 6),
    ("online", 4),
    ("site", 4),
    ("club", 3),
    ("biz", 3),
    ("pw", 2),
    ("tk", 4),
    ("cn", 3),
    ("su", 2),
];

/// How a DGA family spells its labels.
#[derive(Debug, Clone, Copy)]
enum Style {
    Letters { min: u64, max: u64 },
    AlphaNum { min: u64, max: u64 },
    Hex { min: u64, max: u64 },
    Words,
    Syllables { min: u64, max: u64 },
}

/// The generated families: one per lexical style that real DGAs use.
const FAMILIES: &[(&str, Style, &[&str])] = &[
    (
        "conficker",
        Style::Letters { min: 8, max: 11 },
        &["com", "net", "org", "info", "biz", "ws", "cc", "cn"],
    ),
    (
        "cryptolocker",
        Style::Letters { min: 12, max: 16 },
        &["ru", "org", "co.uk", "info", "com", "net", "biz"],
    ),
    (
        "necurs",
        Style::AlphaNum { min: 12, max: 20 },
        &["xyz", "top", "pw", "club", "online"],
    ),
    (
        "dyre",
        Style::Hex { min: 20, max: 32 },
        &["cc", "ws", "to", "in", "hk", "cn", "tk"],
    ),
    ("matsnu", Style::Words, &["com", "net"]),
    (
        "pushdo",
        Style::Syllables { min: 8, max: 12 },
        &["com", "kz", "ru", "net"],
    ),
];

fn weighted<'a>(table: &[(&'a str, u32)], hash: u64) -> &'a str {
    let total: u32 = table.iter().map(|t| t.1).sum();
    let mut ticket = (hash % u64::from(total)) as u32;
    for (tld, w) in table {
        if ticket < *w {
            return tld;
        }
        ticket -= w;
    }
    table[0].0
}

/// Bijective base-85 syllables: every `q >= 1` gets a distinct, pronounceable tail.
fn syllables(mut q: u64, out: &mut String) {
    let base = (CONSONANTS.len() * VOWELS.len()) as u64;
    while q > 0 {
        q -= 1;
        let s = (q % base) as usize;
        out.push(CONSONANTS[s / VOWELS.len()] as char);
        out.push(VOWELS[s % VOWELS.len()] as char);
        q /= base;
    }
}

/// A label made of two words and, past the pair space, a syllable tail; injective in `gid`.
fn word_label(words: &[&str], gid: u64, always_hyphen: bool) -> String {
    let w = words.len() as u64;
    let space = w * w;
    // An affine bijection on the pair space spreads consecutive ids over unrelated words; the
    // multiplier is a prime larger than any pair space, so it is coprime to each of them.
    let mult = 1_000_003u64;
    let pair = (gid % space * mult + 17) % space;
    let q = gid / space;
    let hyphen = always_hyphen || mix_bit(gid, 3);
    let mut label = String::with_capacity(24);
    label.push_str(words[(pair / w) as usize]);
    if hyphen {
        label.push('-');
    }
    label.push_str(words[(pair % w) as usize]);
    if q > 0 {
        label.push('-');
        syllables(q, &mut label);
    }
    label
}

fn mix_bit(gid: u64, one_in: u64) -> bool {
    crate::rng::mix64(gid ^ 0x5eed).is_multiple_of(one_in)
}

/// The apex name of a benign entity.
pub(crate) fn benign_name(seed: u64, gid: u64) -> String {
    let label = word_label(&BENIGN, gid, false);
    format!(
        "{label}.{}",
        weighted(BENIGN_TLDS, derive(seed, 0x71d, gid))
    )
}

/// The apex name of a phishing or malware-hosting entity.
pub(crate) fn malicious_name(seed: u64, gid: u64) -> String {
    let label = word_label(&PHISH, gid, true);
    format!(
        "{label}.{}",
        weighted(MALICIOUS_TLDS, derive(seed, 0x71e, gid))
    )
}

/// A short provider label (name servers, mail, CDNs), distinct per index.
pub(crate) fn provider_label(prefix: &str, index: u64) -> String {
    let mut label = String::from(prefix);
    syllables(index + 86, &mut label);
    label
}

/// The number of generated DGA families.
pub(crate) fn family_count() -> usize {
    FAMILIES.len()
}

pub(crate) fn family_name(family: usize) -> &'static str {
    FAMILIES[family % FAMILIES.len()].0
}

/// A DGA name of `family` for the entity with global id `gid`.
pub(crate) fn dga_name(seed: u64, family: usize, gid: u64) -> String {
    let (_, style, tlds) = FAMILIES[family % FAMILIES.len()];
    let mut rng = stream(seed, 0xd6a, gid);
    let mut label = String::with_capacity(32);
    let mut pick_len = |min: u64, max: u64| min + rng.below(max - min + 1);
    match style {
        Style::Letters { min, max } => {
            let len = pick_len(min, max);
            (0..len).for_each(|_| label.push((b'a' + rng.below(26) as u8) as char));
        }
        Style::AlphaNum { min, max } => {
            let len = pick_len(min, max);
            const SET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
            label.push((b'a' + rng.below(26) as u8) as char);
            (1..len).for_each(|_| label.push(*rng.pick(SET) as char));
        }
        Style::Hex { min, max } => {
            let len = pick_len(min, max);
            label.push((b'a' + rng.below(26) as u8) as char);
            (1..len).for_each(|_| label.push(*rng.pick(b"0123456789abcdef") as char));
        }
        Style::Syllables { min, max } => {
            let len = pick_len(min, max) as usize;
            while label.len() < len {
                label.push(*rng.pick(CONSONANTS) as char);
                label.push(*rng.pick(VOWELS) as char);
            }
        }
        Style::Words => {
            label = word_label(&DGA, gid, false).replace('-', "");
        }
    }
    format!("{label}.{}", rng.pick(tlds))
}

/// Real names from a folder laid out like the shared data folder.
#[derive(Debug, Default)]
pub struct NameSource {
    /// Umbrella's top list, in rank order.
    pub top: Vec<String>,
    /// maltrail domain trails of the malware and malicious categories.
    pub malicious: Vec<String>,
    /// DGA domains by family.
    pub dga: Vec<(String, Vec<String>)>,
    pub sinkhole_ips: Vec<Ipv4Addr>,
    pub sinkhole_nameservers: Vec<String>,
}

/// The files read under `--names-from`. Nothing else in the folder is opened: the held-out
/// acceptance lists live beside these.
const UMBRELLA: &str = "umbrella-top100k/umbrella-top-100k.txt.gz";
const TRAILS: &str = "maltrail/maltrail-trails.csv.gz";
const SINKHOLES: &str = "maltrail/maltrail-sinkholes.csv";
const DGA_SETS: &str = "dga-andrewaeva/dga_andrewaeva.csv.gz";

impl NameSource {
    pub fn load(dir: &Path) -> Result<NameSource> {
        let mut seen = HashSet::new();
        let mut keep = |raw: &str| -> Option<String> {
            let name = pdnsrep_records::normalize_name(raw).ok()?;
            (name.contains('.') && seen.insert(name.clone())).then_some(name)
        };
        let top: Vec<String> = read_lines(&dir.join(UMBRELLA))?
            .iter()
            .filter_map(|l| keep(l))
            .collect();
        let mut malicious = Vec::new();
        for line in read_lines(&dir.join(TRAILS))?.iter().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() >= 4 && f[1] == "domain" && (f[3] == "malware" || f[3] == "malicious") {
                malicious.extend(keep(f[0]));
            }
        }
        let mut dga: Vec<(String, Vec<String>)> = Vec::new();
        for line in read_lines(&dir.join(DGA_SETS))?.iter().skip(1) {
            let mut f = line.split(',');
            let (Some(domain), Some(family)) = (f.next(), f.next()) else {
                continue;
            };
            let Some(name) = keep(domain) else { continue };
            match dga.iter_mut().find(|(fam, _)| fam == family) {
                Some((_, names)) => names.push(name),
                None => dga.push((family.to_string(), vec![name])),
            }
        }
        let (mut sinkhole_ips, mut sinkhole_nameservers) = (Vec::new(), Vec::new());
        for line in read_lines(&dir.join(SINKHOLES))?.iter().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            match f.get(1) {
                Some(&"ipv4") => sinkhole_ips.extend(f[0].parse::<Ipv4Addr>().ok()),
                Some(&"domain") => sinkhole_nameservers.extend(keep(f[0])),
                _ => {}
            }
        }
        let mut source = NameSource {
            top,
            malicious,
            dga,
            sinkhole_ips,
            sinkhole_nameservers,
        };
        source.drop_nested();
        Ok(source)
    }

    /// Each real name becomes a domain of its own with generated subdomains (`www`, `mail`, …),
    /// so a listed name under another listed name (Umbrella has both `google.com` and
    /// `www.google.com`) would give two records the same key. Keep only the outermost.
    fn drop_nested(&mut self) {
        let all: HashSet<String> = self
            .top
            .iter()
            .chain(&self.malicious)
            .chain(self.dga.iter().flat_map(|(_, names)| names))
            .cloned()
            .collect();
        let nested = |name: &String| {
            name.match_indices('.')
                .any(|(i, _)| all.contains(&name[i + 1..]))
        };
        self.top.retain(|n| !nested(n));
        self.malicious.retain(|n| !nested(n));
        for (_, names) in &mut self.dga {
            names.retain(|n| !nested(n));
        }
    }
}

fn read_lines(path: &PathBuf) -> Result<Vec<String>> {
    let err = |source| Error::Names {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    BufReader::new(reader)
        .lines()
        .map(|l| l.map(|l| l.trim().to_string()))
        .filter(|l| !matches!(l, Ok(l) if l.is_empty() || l.starts_with('#')))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(err)
}

/// A stable per-entity coin, for choices that must not depend on how many draws came before.
pub(crate) fn coin(seed: u64, tag: u64, gid: u64, p: f64) -> bool {
    unit_from(derive(seed, tag, gid)) < p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn word_pairs_concatenate_uniquely_and_lists_are_disjoint() {
        for words in [&*BENIGN, &*PHISH, &*DGA] {
            let pairs: HashSet<String> = words
                .iter()
                .flat_map(|a| words.iter().map(move |b| format!("{a}{b}")))
                .collect();
            assert_eq!(pairs.len(), words.len() * words.len());
        }
        let benign: HashSet<_> = BENIGN.iter().collect();
        assert!(PHISH.iter().chain(DGA.iter()).all(|w| !benign.contains(w)));
    }

    #[test]
    fn generated_names_are_unique_and_valid() {
        let mut seen = HashSet::new();
        for gid in 0..200_000u64 {
            let name = benign_name(1, gid);
            assert!(seen.insert(name.clone()), "duplicate {name}");
        }
        for gid in 0..20_000u64 {
            assert!(seen.insert(malicious_name(1, gid)));
            for fam in 0..family_count() {
                let name = dga_name(1, fam, gid);
                assert_eq!(pdnsrep_records::normalize_name(&name).unwrap(), name);
            }
        }
    }

    #[test]
    fn nested_real_names_are_dropped() {
        let mut source = NameSource {
            top: vec![
                "google.com".into(),
                "www.google.com".into(),
                "a.b.example.org".into(),
            ],
            malicious: vec!["evil.google.com".into(), "example.org".into()],
            ..NameSource::default()
        };
        source.drop_nested();
        assert_eq!(source.top, ["google.com"]);
        assert_eq!(source.malicious, ["example.org"]);
    }

    #[test]
    fn dga_families_have_their_styles() {
        let hex = dga_name(5, 3, 42);
        let label = hex.split('.').next().unwrap();
        assert!(label[1..].chars().all(|c| c.is_ascii_hexdigit()), "{hex}");
        let letters = dga_name(5, 0, 42);
        assert!(
            letters
                .split('.')
                .next()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_lowercase())
        );
    }
}
