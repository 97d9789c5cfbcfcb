//! The shape both lists of deliberate defects share — the bank's (`sandbox::faults`, `obevents
//! sandbox --fault`) and the reference TPP's (`tpp::faults`, `obevents tpp receive --fault`):
//! one table row per fault (name, area, the rules it breaks, what goes wrong) expands into the
//! fault enum, its names on the command line, and the `--list-faults` text.

/// Declares `pub enum $Enum` from a table of `Variant = "name", Area, ["RULE", …], "what";`
/// rows, with `ALL`, `name`, `rules`, `description`, `area`, `Display`, `FromStr` (the error
/// ends with `$hint`) and [`Listed`].
macro_rules! fault_table {
    ($Enum:ident, $Area:ident, $hint:literal;
     $( $variant:ident = $name:literal, $area:ident, [$($rule:literal),+], $desc:literal; )+) => {
        /// A named defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $Enum { $( $variant, )+ }

        impl $Enum {
            pub const ALL: &'static [$Enum] = &[ $( $Enum::$variant, )+ ];

            /// The name used on the command line and in config files.
            pub fn name(self) -> &'static str {
                match self { $( $Enum::$variant => $name, )+ }
            }
            /// Rule IDs (from the catalogue) this fault violates.
            pub fn rules(self) -> &'static [&'static str] {
                match self { $( $Enum::$variant => &[$($rule),+], )+ }
            }
            /// One line saying what goes wrong.
            pub fn description(self) -> &'static str {
                match self { $( $Enum::$variant => $desc, )+ }
            }
            pub fn area(self) -> $Area {
                match self { $( $Enum::$variant => $Area::$area, )+ }
            }
        }

        impl std::fmt::Display for $Enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $Enum {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $Enum::ALL
                    .iter()
                    .copied()
                    .find(|f| f.name() == s)
                    .ok_or_else(|| format!("unknown fault {s:?} ({})", $hint))
            }
        }

        impl $crate::fault_table::Listed for $Enum {
            fn name(self) -> &'static str {
                $Enum::name(self)
            }
            fn rules(self) -> &'static [&'static str] {
                $Enum::rules(self)
            }
            fn description(self) -> &'static str {
                $Enum::description(self)
            }
            fn area_name(self) -> &'static str {
                $Enum::area(self).name()
            }
        }
    };
}

pub(crate) use fault_table;

/// What `--list-faults` shows of a fault.
pub trait Listed: Copy + 'static {
    fn name(self) -> &'static str;
    fn rules(self) -> &'static [&'static str];
    fn description(self) -> &'static str;
    fn area_name(self) -> &'static str;
}

/// The `--list-faults` text: one line per fault (name, rules, description), grouped by area.
pub fn listing<F: Listed>(all: &[F]) -> String {
    let mut out = String::new();
    let mut last = None;
    for f in all {
        if last != Some(f.area_name()) {
            out.push_str(&format!("{}:\n", f.area_name()));
            last = Some(f.area_name());
        }
        out.push_str(&format!(
            "  {:<30} {:<22} {}\n",
            f.name(),
            f.rules().join(","),
            f.description()
        ));
    }
    out
}
