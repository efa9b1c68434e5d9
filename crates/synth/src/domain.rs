//! One entity of the world (a registered domain and everything it resolves to) and the records
//! it leaves in passive DNS.
//!
//! An entity is a pure function of the world seed, its role and its index within the role, so
//! any shard can make any entity without coordination. Behaviour is drawn first (lifetime,
//! query volume, hosting, TTLs), then turned into records per owner name.

use std::net::IpAddr;

use pdnsrep_records::{Record, RrType};

use crate::config::{Difficulty, Known};
use crate::geo::{Geo, Net};
use crate::names::{self, NameSource, coin};
use crate::rng::{Draw, Stream, derive, stream};

/// The truth class of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Benign,
    Malicious,
    Sinkhole,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Benign, Class::Malicious, Class::Sinkhole];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Benign => "benign",
            Class::Malicious => "malicious",
            Class::Sinkhole => "sinkhole",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What an entity was planted as; [`Role::ALL`] is also the order of [`crate::config::Mix`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Top,
    Cdn,
    Shared,
    Plain,
    Parked,
    Dynamic,
    MalPlain,
    FastFlux,
    Bulletproof,
    Dga,
    Sinkholed,
}

impl Role {
    pub(crate) const ALL: [Role; 11] = [
        Role::Top,
        Role::Cdn,
        Role::Shared,
        Role::Plain,
        Role::Parked,
        Role::Dynamic,
        Role::MalPlain,
        Role::FastFlux,
        Role::Bulletproof,
        Role::Dga,
        Role::Sinkholed,
    ];

    fn is_malicious(self) -> bool {
        matches!(
            self,
            Role::MalPlain | Role::FastFlux | Role::Bulletproof | Role::Dga | Role::Sinkholed
        )
    }
}

/// Fixed role ids of the truth's `role` column; DGA families follow from [`ROLE_DGA_BASE`].
pub(crate) const ROLE_NAMES: [&str; 12] = [
    "top",
    "cdn",
    "shared",
    "plain",
    "parked",
    "dynamic",
    "shortlived",
    "plain",
    "compromised",
    "fastflux",
    "bulletproof",
    "sinkholed",
];
pub(crate) const ROLE_DGA_BASE: u16 = ROLE_NAMES.len() as u16;

/// One generated record with its truth.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub record: Record,
    pub class: Class,
    pub role: u16,
    /// The class the world's lists give this record, emulating the labelling stage's
    /// precedence (sinkhole, then malicious, then benign); `None` when no list matches.
    pub listed: Option<Class>,
}

/// Everything one entity contributes.
#[derive(Debug, Default)]
pub(crate) struct Entity {
    pub rows: Vec<Row>,
    /// The apex name, when it goes on the block list.
    pub block: Option<String>,
    /// The apex name, when it goes on the allow list by mistake (label noise).
    pub allow_noise: Option<String>,
}

/// The shared, read-only state every shard generates from.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub seed: u64,
    pub start: i64,
    pub end: i64,
    pub geo: Geo,
    pub names: Option<NameSource>,
    /// Entities per role, in [`Role::ALL`] order.
    pub counts: [u64; 11],
    /// First global id of each role: ids are unique across roles, which keeps names unique.
    pub offsets: [u64; 11],
    pub known: Known,
    pub difficulty: Difficulty,
    /// The DGA family names, in family order.
    pub families: Vec<String>,
    /// Chance that a benign non-top entity is on the block list, and that an unlisted
    /// malicious one is on the allow list: set so that `label_noise` is the wrong fraction of
    /// each list rather than of each class, which would swamp the small block list.
    pub noise_block: f64,
    pub noise_allow: f64,
}

const TAG_ENTITY: u64 = 0xe000;
const TAG_SINKHOLE_IP: u64 = 0x5101;
const TAG_SINKHOLE_NS: u64 = 0x5102;
const TAG_BULLETPROOF: u64 = 0xb9;
const TAG_LISTED: u64 = 0x1157;
const TAG_NOISE: u64 = 0x4015e;
const TAG_OVERLAP: u64 = 0x0ae;
const DAY: i64 = 86_400;
const SENSORS: [&str; 4] = ["sensor-01", "sensor-02", "sensor-03", "sensor-04"];
const SINKHOLE_OPERATORS: u64 = 8;

impl Ctx {
    fn days(&self) -> f64 {
        ((self.end - self.start) / DAY) as f64
    }

    /// Geometric interpolation between a benign and a malicious median by `signal`.
    fn shift(&self, benign: f64, malicious: f64) -> f64 {
        benign * (malicious / benign).powf(self.difficulty.signal)
    }

    pub(crate) fn role_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ROLE_NAMES.iter().map(|s| s.to_string()).collect();
        names.extend(self.families.iter().map(|f| format!("dga:{f}")));
        names
    }

    /// Whether a bulletproof prefix (by its first address) is on the CIDR block list.
    pub(crate) fn bulletproof_listed(&self, base: u32) -> bool {
        coin(
            self.seed,
            TAG_BULLETPROOF,
            u64::from(base),
            self.known.bulletproof_prefixes,
        )
    }

    pub(crate) fn sinkhole_ip_listed(&self, ip: IpAddr) -> bool {
        let key = match ip {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6) as u64,
        };
        coin(self.seed, TAG_SINKHOLE_IP, key, self.known.sinkhole_ips)
    }

    pub(crate) fn sinkhole_ns_listed(&self, name: &str) -> bool {
        let key = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
        coin(
            self.seed,
            TAG_SINKHOLE_NS,
            key,
            self.known.sinkhole_nameservers,
        )
    }

    /// Every sinkhole address the world can use.
    pub(crate) fn sinkhole_ips(&self) -> Vec<IpAddr> {
        match &self.names {
            Some(n) if !n.sinkhole_ips.is_empty() => {
                n.sinkhole_ips.iter().map(|ip| IpAddr::V4(*ip)).collect()
            }
            _ => (0..self.geo.pool(Net::Sinkhole).size())
                .map(|i| IpAddr::V4(self.geo.v4(Net::Sinkhole, i)))
                .collect(),
        }
    }

    /// Every sinkhole name server the world can use.
    pub(crate) fn sinkhole_nameservers(&self) -> Vec<String> {
        match &self.names {
            Some(n) if !n.sinkhole_nameservers.is_empty() => n.sinkhole_nameservers.clone(),
            _ => (0..SINKHOLE_OPERATORS)
                .flat_map(|op| {
                    let domain = format!("{}.org", names::provider_label("sinkhole-", op));
                    [format!("ns1.{domain}"), format!("ns2.{domain}")]
                })
                .collect(),
        }
    }

    /// The apex of the top-ranked entity of `rank` (1-based).
    pub(crate) fn top_name(&self, rank: u64) -> String {
        match &self.names {
            Some(n) if rank as usize <= n.top.len() => n.top[rank as usize - 1].clone(),
            _ => names::benign_name(self.seed, self.offsets[0] + rank - 1),
        }
    }
}

/// How one entity behaves, drawn before any record is made.
#[derive(Debug)]
struct Behaviour {
    role_id: u16,
    apex: String,
    owners: usize,
    queries: f64,
    from: i64,
    to: i64,
    net: Net,
    pick: Pick,
    ips: (u64, f64, f64, u64),
    ttls: &'static [u32],
    aaaa: f64,
    mx: bool,
    ns: NsKind,
    sequential: bool,
    cdn: Option<u64>,
    /// Takedown time and the end of the sinkholed period.
    takedown: Option<(i64, i64)>,
    listed: Option<Class>,
}

#[derive(Debug, Clone, Copy)]
enum Pick {
    Uniform,
    /// Zipf over every `stride`-th address of the pool: few addresses, many tenants.
    Shared(f64, u64),
    /// A DGA family's small set of command-and-control addresses.
    Family(u64),
}

#[derive(Debug, Clone, Copy)]
enum NsKind {
    Provider(u64),
    Bad(u64),
    Own,
    Parking(u64),
}

/// Makes entity `index` of `role`.
pub(crate) fn entity(ctx: &Ctx, role: Role, index: u64) -> Entity {
    let ri = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
    let gid = ctx.offsets[ri] + index;
    let mut rng = stream(ctx.seed, TAG_ENTITY + ri as u64, index);
    let b = behaviour(ctx, role, index, gid, &mut rng);
    let mut out = Entity::default();
    match b.listed {
        Some(Class::Malicious) => out.block = Some(b.apex.clone()),
        Some(Class::Benign) if role != Role::Top => out.allow_noise = Some(b.apex.clone()),
        _ => {}
    }
    emit(ctx, &b, role, gid, &mut rng, &mut out.rows);
    out
}

fn behaviour(ctx: &Ctx, role: Role, index: u64, gid: u64, rng: &mut Stream) -> Behaviour {
    let overlap = coin(ctx.seed, TAG_OVERLAP, gid, ctx.difficulty.overlap);
    let mut b = match role {
        _ if overlap && role.is_malicious() && !matches!(role, Role::Dga | Role::Sinkholed) => {
            compromised(ctx, gid, rng)
        }
        Role::Top => top(ctx, index, rng),
        Role::Cdn => long_lived(ctx, 1, Net::Cdn, &[20, 30, 60, 300], 300.0, rng),
        Role::Shared => long_lived(ctx, 2, Net::Hosting, &[3600, 14400, 86400, 1800], 25.0, rng),
        Role::Plain => long_lived(
            ctx,
            3,
            Net::Hosting,
            &[300, 3600, 86400, 600, 1800],
            60.0,
            rng,
        ),
        Role::Parked => long_lived(ctx, 4, Net::Parking, &[600, 3600, 300], 6.0, rng),
        Role::Dynamic => dynamic(ctx, rng),
        _ => malicious(ctx, role, index, gid, rng),
    };
    if overlap && !role.is_malicious() && role != Role::Cdn {
        shortlived(ctx, &mut b, rng);
    }
    if b.apex.is_empty() {
        b.apex = names::benign_name(ctx.seed, gid);
    }
    b.listed = listed(ctx, role, gid);
    b
}

fn listed(ctx: &Ctx, role: Role, gid: u64) -> Option<Class> {
    match role {
        Role::Top => Some(Class::Benign),
        r if r.is_malicious() => {
            if coin(ctx.seed, TAG_LISTED, gid, ctx.known.malicious_domains) {
                Some(Class::Malicious)
            } else {
                coin(ctx.seed, TAG_NOISE, gid, ctx.noise_allow).then_some(Class::Benign)
            }
        }
        _ => coin(ctx.seed, TAG_NOISE, gid, ctx.noise_block).then_some(Class::Malicious),
    }
}

fn base(
    role_id: u16,
    net: Net,
    ttls: &'static [u32],
    queries: f64,
    from: i64,
    to: i64,
) -> Behaviour {
    Behaviour {
        role_id,
        apex: String::new(),
        owners: 1,
        queries,
        from,
        to,
        net,
        pick: Pick::Uniform,
        ips: (1, 1.3, 0.6, 8),
        ttls,
        aaaa: 0.0,
        mx: false,
        ns: NsKind::Provider(0),
        sequential: true,
        cdn: None,
        takedown: None,
        listed: None,
    }
}

/// A long life that mostly began before the window opened.
fn long_life(ctx: &Ctx, median_days: f64, rng: &mut Stream) -> (i64, i64) {
    let u = rng.unit();
    let born = ctx.start + ((u * u * 1.1 - 0.1).max(0.0) * ctx.days()) as i64 * DAY;
    let life = (rng.lognormal(median_days, 0.8) * DAY as f64) as i64;
    (born, (born + life.max(DAY)).min(ctx.end))
}

/// A short life starting anywhere in the window.
fn short_life(ctx: &Ctx, median_days: f64, sigma: f64, rng: &mut Stream) -> (i64, i64) {
    let born = ctx.start + (rng.unit() * (ctx.end - ctx.start - 3600) as f64) as i64;
    let life = (rng.lognormal(median_days, sigma) * DAY as f64) as i64;
    (born, (born + life.max(3600)).min(ctx.end))
}

fn top(ctx: &Ctx, index: u64, rng: &mut Stream) -> Behaviour {
    let rank = index + 1;
    // Volume follows the rank's percentile, so the shape does not change with the world's
    // size: the bottom of the list sees ~100 queries, the head grows with the list.
    let pct = rank as f64 / ctx.counts[0].max(1) as f64;
    let queries = (100.0 * pct.powf(-0.9) * rng.lognormal(1.0, 0.6)).max(30.0);
    let (from, to) = long_life(ctx, 2000.0, rng);
    let on_cdn = rng.chance(0.4);
    let net = if on_cdn { Net::Cdn } else { Net::Hosting };
    let ttls: &[u32] = &[300, 3600, 86400, 60, 600, 1800, 14400];
    let mut b = base(0, net, ttls, queries, from, to);
    b.apex = ctx.top_name(rank);
    b.owners = 1 + rng.count(0, 2.0, 1.0, 40) as usize;
    b.ips = (1, 2.0, 1.0, 64);
    b.aaaa = 0.3;
    b.mx = rng.chance(0.7);
    b.ns = if rng.chance(0.3) {
        NsKind::Own
    } else {
        NsKind::Provider(rng.zipf(2000, 1.0))
    };
    b.cdn = on_cdn.then(|| rng.zipf(6, 1.0));
    b.sequential = !on_cdn;
    b
}

fn long_lived(
    ctx: &Ctx,
    role_id: u16,
    net: Net,
    ttls: &'static [u32],
    median_queries: f64,
    rng: &mut Stream,
) -> Behaviour {
    let (from, to) = long_life(ctx, 500.0, rng);
    let queries = rng.lognormal(median_queries, 1.6);
    let mut b = base(role_id, net, ttls, queries, from, to);
    b.owners = 1 + usize::from(rng.chance(0.6)) + usize::from(rng.chance(0.3));
    b.mx = rng.chance(0.6);
    b.ns = NsKind::Provider(rng.zipf(2000, 1.0));
    match net {
        Net::Hosting if role_id == 2 => {
            b.pick = Pick::Shared(1.1, 16);
            b.ips = (1, 1.0, 0.4, 3);
        }
        Net::Parking => {
            b.owners = 1 + usize::from(rng.chance(0.5));
            b.pick = Pick::Shared(1.0, 1);
            b.ips = (1, 1.0, 0.0, 1);
            b.mx = false;
            b.ns = NsKind::Parking(rng.zipf(4, 1.0));
        }
        Net::Cdn => {
            b.ips = (2, 4.0, 0.6, 32);
            b.aaaa = 0.4;
            b.sequential = false;
            b.cdn = Some(rng.zipf(6, 1.0));
        }
        _ => {}
    }
    b
}

fn dynamic(ctx: &Ctx, rng: &mut Stream) -> Behaviour {
    let (from, to) = short_life(ctx, 60.0, 1.2, rng);
    let queries = rng.lognormal(20.0, 1.5);
    let mut b = base(5, Net::Residential, &[60, 300, 30], queries, from, to);
    b.ips = (1, 4.0, 1.0, 60);
    b.ns = NsKind::Provider(rng.zipf(20, 1.0));
    b
}

/// Benign behaviour pushed towards the malicious side: a short life, low TTLs, few queries.
fn shortlived(ctx: &Ctx, b: &mut Behaviour, rng: &mut Stream) {
    let (from, to) = short_life(ctx, ctx.shift(300.0, 7.0), 1.2, rng);
    b.role_id = 6;
    b.from = from;
    b.to = to;
    b.ttls = &[300, 600, 60];
    b.queries = rng.lognormal(ctx.shift(60.0, 30.0), 1.6);
    b.net = Net::Hosting;
    b.pick = Pick::Uniform;
    b.cdn = None;
}

/// Malicious content on benign-looking, long-lived shared hosting.
fn compromised(ctx: &Ctx, gid: u64, rng: &mut Stream) -> Behaviour {
    let mut b = long_lived(ctx, 2, Net::Hosting, &[3600, 14400, 86400, 1800], 25.0, rng);
    b.role_id = 8;
    b.apex = names::benign_name(ctx.seed, gid);
    b
}

fn malicious(ctx: &Ctx, role: Role, index: u64, gid: u64, rng: &mut Stream) -> Behaviour {
    let s = |benign, malicious| ctx.shift(benign, malicious);
    let (role_id, net, ttls, q, life): (u16, Net, &'static [u32], f64, f64) = match role {
        Role::FastFlux => (
            9,
            Net::Residential,
            &[0, 30, 60, 120, 180, 300],
            100.0,
            20.0,
        ),
        Role::Bulletproof => (10, Net::Bulletproof, &[600, 3600, 300, 86400], 30.0, 30.0),
        Role::Dga => (0, Net::Hosting, &[300, 600, 3600, 60], 14.0, 2.0),
        Role::Sinkholed => (11, Net::Hosting, &[300, 600, 3600], 25.0, 15.0),
        _ => (7, Net::Hosting, &[300, 600, 3600, 1800], 30.0, 7.0),
    };
    let (from, to) = short_life(ctx, s(300.0, life), 1.1, rng);
    let mut b = base(role_id, net, ttls, rng.lognormal(s(60.0, q), 1.5), from, to);
    b.ns = if rng.chance(0.4) {
        NsKind::Own
    } else {
        NsKind::Bad(rng.zipf(300, 1.0))
    };
    b.apex = malicious_apex(ctx, role, index, gid);
    match role {
        Role::FastFlux => {
            b.ips = (10, 60.0, 0.8, 800);
            b.sequential = false;
            b.ns = NsKind::Own;
        }
        Role::Bulletproof => {
            b.pick = Pick::Shared(1.0, 1);
            b.ips = (1, 2.0, 0.7, 12);
        }
        Role::Dga => {
            let family = dga_family(ctx, index);
            b.role_id = ROLE_DGA_BASE + family as u16;
            b.pick = Pick::Family(family);
            b.net = if family.is_multiple_of(2) {
                Net::Bulletproof
            } else {
                Net::Hosting
            };
            b.ips = (1, 1.3, 0.5, 4);
        }
        Role::Sinkholed => {
            let end = (b.to + (rng.lognormal(200.0, 0.8) * DAY as f64) as i64).min(ctx.end);
            b.takedown = (b.to < ctx.end).then_some((b.to, end.max(b.to + 3600)));
            b.ips = (1, 2.0, 0.7, 8);
        }
        _ => b.owners = 1 + usize::from(rng.chance(0.3)),
    }
    b
}

fn dga_family(ctx: &Ctx, index: u64) -> u64 {
    // Families differ in size: a few prolific ones and a tail.
    let mut rng = stream(ctx.seed, 0xfa, index);
    rng.zipf(ctx.families.len() as u64, 0.8)
}

fn malicious_apex(ctx: &Ctx, role: Role, index: u64, gid: u64) -> String {
    let real = ctx.names.as_ref();
    if role == Role::Dga {
        let family = dga_family(ctx, index) as usize;
        if let Some((_, list)) = real.and_then(|n| n.dga.get(family)) {
            // The entity index is unique, so it picks a distinct name of the family's list;
            // entities past the end get generated names rather than repeats.
            if let Some(name) = list.get(index as usize) {
                return name.clone();
            }
        }
        return names::dga_name(ctx.seed, family % names::family_count(), gid);
    }
    let slot = (gid - ctx.offsets[6]) as usize;
    match real.and_then(|n| n.malicious.get(slot)) {
        Some(name) => name.clone(),
        None => names::malicious_name(ctx.seed, gid),
    }
}

/// One planned record before counts are assigned.
struct Draft {
    owner: usize,
    rrtype: RrType,
    rdata: String,
    first: i64,
    last: i64,
    ttl: u32,
    class: Class,
    listed_ip: Option<Class>,
    weight: f64,
}

fn emit(ctx: &Ctx, b: &Behaviour, role: Role, gid: u64, rng: &mut Stream, rows: &mut Vec<Row>) {
    let owners = owner_names(b, rng);
    let mut drafts = Vec::new();
    let apex_ips = address_drafts(ctx, b, 0, gid, rng, &mut drafts);
    for o in 1..owners.len() {
        if o == 1 && b.cdn.is_some() {
            continue;
        }
        if rng.chance(0.7) {
            for d in apex_ips.iter() {
                drafts.push(Draft {
                    owner: o,
                    rdata: d.rdata.clone(),
                    weight: rng.unit(),
                    ..*d
                });
            }
        } else {
            address_drafts(ctx, b, o, gid, rng, &mut drafts);
        }
    }
    infra_drafts(ctx, b, &owners, rng, &mut drafts);
    if let Some((down, until)) = b.takedown {
        sinkhole_drafts(ctx, b, down, until, rng, &mut drafts);
    }
    let mut owners = owners;
    if let Some(cdn) = b.cdn {
        cdn_drafts(ctx, b, cdn, &mut owners, rng, &mut drafts);
    }
    finish(ctx, b, role, &owners, drafts, rng, rows);
}

fn owner_names(b: &Behaviour, rng: &mut Stream) -> Vec<String> {
    const SUBS: [&str; 16] = [
        "www", "mail", "api", "cdn", "static", "m", "shop", "blog", "img", "app", "news", "dev",
        "login", "support", "docs", "media",
    ];
    let mut owners = vec![b.apex.clone()];
    let start = if b.cdn.is_some() {
        0
    } else {
        rng.below(2) as usize
    };
    for k in 0..b.owners.saturating_sub(1) {
        let sub = match SUBS.get(start + k) {
            Some(s) => (*s).to_string(),
            None => format!("s{k}"),
        };
        owners.push(format!("{sub}.{}", b.apex));
    }
    if b.cdn.is_some() && owners.len() < 2 {
        owners.push(format!("www.{}", b.apex));
    }
    owners
}

/// A and AAAA drafts for one owner; returns the apex's A drafts for reuse by subdomains.
fn address_drafts(
    ctx: &Ctx,
    b: &Behaviour,
    owner: usize,
    gid: u64,
    rng: &mut Stream,
    drafts: &mut Vec<Draft>,
) -> Vec<Draft> {
    let (min, median, sigma, cap) = b.ips;
    let n = if owner == 0 {
        rng.count(min, median, sigma, cap)
    } else {
        rng.count(1, 1.3, 0.6, 8)
    };
    let pool = ctx.geo.pool(b.net).size();
    let (from, to) = (b.from, b.to);
    let mut mine = Vec::new();
    for k in 0..n {
        let index = match b.pick {
            Pick::Uniform => rng.below(pool),
            Pick::Shared(s, stride) => rng.zipf(pool.div_ceil(stride), s) * stride,
            Pick::Family(f) => derive(ctx.seed, 0xc2 + f, rng.below(8)) % pool,
        };
        let ip = ctx.geo.v4(b.net, index);
        let (first, last) = interval(b, k, n, from, to, rng);
        let listed_ip = (b.net == Net::Bulletproof
            && ctx.bulletproof_listed(ctx.geo.prefix_base(b.net, index)))
        .then_some(Class::Malicious);
        let ttl = *rng.pick(b.ttls);
        let class = if b.role_id < 7 {
            Class::Benign
        } else {
            Class::Malicious
        };
        let d = Draft {
            owner,
            rrtype: RrType::A,
            rdata: ip.to_string(),
            first,
            last,
            ttl,
            class,
            listed_ip,
            weight: rng.unit() + 0.05,
        };
        if owner == 0 {
            mine.push(Draft {
                rdata: d.rdata.clone(),
                ..d
            });
        }
        drafts.push(d);
        if rng.chance(b.aaaa) {
            let rdata = ctx.geo.v6(b.net, index).to_string();
            let weight = rng.unit() * 0.3;
            drafts.push(Draft {
                owner,
                rrtype: RrType::AAAA,
                rdata,
                first,
                last,
                ttl,
                class,
                listed_ip,
                weight,
            });
        }
    }
    let _ = gid;
    mine
}

/// The span of the `k`-th of `n` addresses: consecutive slices of the life when the domain
/// moves between hosts, overlapping random spans when it rotates (CDNs, fast flux).
fn interval(b: &Behaviour, k: u64, n: u64, from: i64, to: i64, rng: &mut Stream) -> (i64, i64) {
    let span = (to - from).max(1) as f64;
    if b.sequential {
        let a = from + (span * k as f64 / n as f64) as i64;
        let z = from + (span * (k + 1) as f64 / n as f64) as i64;
        (a, z.max(a))
    } else {
        let a = from + (span * 0.5 * rng.unit()) as i64;
        let z = to - (span * 0.5 * rng.unit()) as i64;
        (a, z.max(a))
    }
}

/// NS, MX and TXT records of the apex, alive for the whole life.
fn infra_drafts(
    ctx: &Ctx,
    b: &Behaviour,
    owners: &[String],
    rng: &mut Stream,
    drafts: &mut Vec<Draft>,
) {
    let class = if b.role_id < 7 {
        Class::Benign
    } else {
        Class::Malicious
    };
    let end = b.takedown.map_or(b.to, |(down, _)| down);
    let mut push = |rrtype, rdata: String, ttl, weight| {
        drafts.push(Draft {
            owner: 0,
            rrtype,
            rdata,
            first: b.from,
            last: end,
            ttl,
            class,
            listed_ip: None,
            weight,
        });
    };
    let ns_domain = match b.ns {
        NsKind::Provider(p) => format!("{}.net", names::provider_label("dns", p)),
        NsKind::Bad(p) => format!(
            "{}.{}",
            names::provider_label("ns", p),
            ["ru", "su", "pw", "top"][p as usize % 4]
        ),
        NsKind::Own => owners[0].clone(),
        NsKind::Parking(p) => format!("{}.com", names::provider_label("park", p)),
    };
    let ns_count = if rng.chance(0.2) { 4 } else { 2 };
    for k in 1..=ns_count {
        push(RrType::NS, format!("ns{k}.{ns_domain}"), 172_800, 0.1);
    }
    if b.mx {
        let provider = names::provider_label("mail", rng.zipf(500, 1.0));
        push(RrType::MX, format!("10 mx.{provider}.com"), 3600, 0.1);
        if rng.chance(0.6) {
            push(
                RrType::TXT,
                format!("\"v=spf1 include:_spf.{provider}.com ~all\""),
                3600,
                0.05,
            );
        }
    }
    let _ = ctx;
}

/// After a takedown the domain answers with a sinkhole address, often delegated to the
/// sinkhole operator's name servers too; those records are the sinkhole class.
fn sinkhole_drafts(
    ctx: &Ctx,
    b: &Behaviour,
    down: i64,
    until: i64,
    rng: &mut Stream,
    drafts: &mut Vec<Draft>,
) {
    let ips = ctx.sinkhole_ips();
    let ip = ips[rng.zipf(ips.len() as u64, 1.2) as usize];
    let listed = ctx.sinkhole_ip_listed(ip).then_some(Class::Sinkhole);
    let ttl = *rng.pick(&[60u32, 300, 3600]);
    let rrtype = if ip.is_ipv4() {
        RrType::A
    } else {
        RrType::AAAA
    };
    let base = Draft {
        owner: 0,
        rrtype,
        rdata: ip.to_string(),
        first: down,
        last: until,
        ttl,
        class: Class::Sinkhole,
        listed_ip: listed,
        weight: 3.0,
    };
    if rng.chance(0.5) {
        let nameservers = ctx.sinkhole_nameservers();
        let pair = (rng.zipf(nameservers.len().div_ceil(2) as u64, 1.2) * 2) as usize;
        for ns in nameservers.iter().skip(pair).take(2) {
            let listed_ip = ctx.sinkhole_ns_listed(ns).then_some(Class::Sinkhole);
            let rdata = ns.clone();
            drafts.push(Draft {
                rrtype: RrType::NS,
                rdata,
                ttl: 86_400,
                listed_ip,
                weight: 0.2,
                ..base
            });
        }
    }
    drafts.push(base);
    let _ = b;
}

/// A CDN customer's `www` is a CNAME to an edge name under the CDN's domain, and the edge
/// name rotates over the CDN's addresses.
fn cdn_drafts(
    ctx: &Ctx,
    b: &Behaviour,
    cdn: u64,
    owners: &mut Vec<String>,
    rng: &mut Stream,
    drafts: &mut Vec<Draft>,
) {
    let edge = format!(
        "{}.{}.net",
        b.apex.replace('.', "-"),
        names::provider_label("edge", cdn)
    );
    let class = if b.role_id < 7 {
        Class::Benign
    } else {
        Class::Malicious
    };
    drafts.push(Draft {
        owner: 1.min(owners.len() - 1),
        rrtype: RrType::CNAME,
        rdata: edge.clone(),
        first: b.from,
        last: b.to,
        ttl: 300,
        class,
        listed_ip: None,
        weight: 1.0,
    });
    owners.push(edge);
    let edge_owner = owners.len() - 1;
    let rotating = Behaviour {
        sequential: false,
        net: Net::Cdn,
        pick: Pick::Uniform,
        ips: (2, 4.0, 0.6, 32),
        ..clone_shape(b)
    };
    let mut edge_drafts = Vec::new();
    address_drafts(ctx, &rotating, 0, 0, rng, &mut edge_drafts);
    for mut d in edge_drafts {
        d.owner = edge_owner;
        d.ttl = *rng.pick(&[20u32, 30, 60]);
        drafts.push(d);
    }
}

/// Addresses drawn with replacement can repeat; a repeated key becomes one record spanning
/// both draws, as passive DNS would aggregate it.
fn dedupe(drafts: Vec<Draft>) -> Vec<Draft> {
    let mut seen: std::collections::HashMap<(usize, RrType, String), usize> = Default::default();
    let mut out: Vec<Draft> = Vec::with_capacity(drafts.len());
    for d in drafts {
        match seen.get(&(d.owner, d.rrtype, d.rdata.clone())) {
            Some(&i) => {
                let kept = &mut out[i];
                kept.first = kept.first.min(d.first);
                kept.last = kept.last.max(d.last);
                kept.weight += d.weight;
            }
            None => {
                seen.insert((d.owner, d.rrtype, d.rdata.clone()), out.len());
                out.push(d);
            }
        }
    }
    out
}

fn clone_shape(b: &Behaviour) -> Behaviour {
    Behaviour {
        apex: String::new(),
        ..*b
    }
}

/// Splits the entity's queries over owners and records, and turns drafts into rows.
fn finish(
    ctx: &Ctx,
    b: &Behaviour,
    role: Role,
    owners: &[String],
    drafts: Vec<Draft>,
    rng: &mut Stream,
    rows: &mut Vec<Row>,
) {
    let drafts = dedupe(drafts);
    let mut owner_weight: Vec<f64> = (0..owners.len())
        .map(|o| if o == 0 { 1.0 } else { rng.lognormal(0.3, 1.2) })
        .collect();
    if b.cdn.is_some() {
        // The edge name carries the customer's traffic.
        if let Some(last) = owner_weight.last_mut() {
            *last = 1.0;
        }
    }
    let total_w: f64 = owner_weight.iter().sum();
    let mut per_owner_w = vec![0.0; owners.len()];
    for d in &drafts {
        per_owner_w[d.owner] += d.weight.max(1e-3);
    }
    let sensor = SENSORS[(derive(ctx.seed, 0x5e, b.from as u64) % 4) as usize];
    for d in drafts {
        let owner_q = b.queries * owner_weight[d.owner] / total_w;
        let share = d.weight.max(1e-3) / per_owner_w[d.owner];
        let count = if d.class == Class::Sinkhole {
            rng.lognormal(60.0, 1.5).round().max(1.0) as u64
        } else {
            (owner_q * share).round().max(1.0) as u64
        };
        let under_apex =
            d.owner < owners.len() && !(b.cdn.is_some() && d.owner == owners.len() - 1);
        let domain_listed = if under_apex { b.listed } else { None };
        let listed = match (d.listed_ip, domain_listed) {
            (Some(Class::Sinkhole), _) => Some(Class::Sinkhole),
            (_, Some(Class::Malicious)) | (Some(Class::Malicious), _) => Some(Class::Malicious),
            (_, other) => other,
        };
        let (min_ttl, max_ttl) = if rng.chance(0.2) {
            (d.ttl / 2, d.ttl)
        } else {
            (d.ttl, d.ttl)
        };
        let first = d.first.clamp(ctx.start, ctx.end);
        let last = d.last.clamp(first, ctx.end);
        rows.push(Row {
            record: Record {
                name: owners[d.owner].clone(),
                rrtype: d.rrtype,
                rdata: d.rdata,
                first_seen: first * 1000,
                last_seen: last * 1000,
                count,
                min_ttl: Some(min_ttl),
                max_ttl: Some(max_ttl),
                sensor: Some(sensor.to_string()),
            },
            class: d.class,
            role: b.role_id,
            listed,
        });
    }
    let _ = role;
}
