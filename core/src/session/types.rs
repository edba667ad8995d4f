//! The closed vocabularies of the session engine (lifts, intensities, sexes, muscles, …).
//!
//! Every vocabulary is a plain enum whose JSON form is its lowercase wire name, so that the
//! SQL layer, the app and the LLM all spell values the same way.

/// Declares a unit enum with a fixed wire name per variant, plus `ALL`, `as_str`, `parse`
/// and `Display`. One macro keeps the wire names in exactly one place per vocabulary.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value with this exact wire name.
            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The wire names joined for error messages ("a, b or c").
            pub fn expected() -> String {
                $crate::session::types::join_alternatives(Self::ALL.iter().map(|v| v.as_str()))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;

/// "a", "a or b", "a, b or c".
pub(crate) fn join_alternatives<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

named_enum! {
    /// The three competition lifts a session is built around.
    pub enum Lift {
        Squat => "squat",
        Bench => "bench",
        Deadlift => "deadlift",
    }
}

named_enum! {
    /// The kind of day within a block.
    pub enum IntensityType {
        Heavy => "heavy",
        Explosive => "explosive",
        Rep => "rep",
        Deload => "deload",
    }
}

named_enum! {
    /// Selects the default loading, rest and MRV/MEV tables.
    pub enum Sex {
        Male => "male",
        Female => "female",
    }
}

impl Default for Sex {
    /// The reference makes `male` the default when `biologicalSex` is absent.
    fn default() -> Self {
        Sex::Male
    }
}

named_enum! {
    /// Scales the MRV/MEV tables (see [`crate::session::volume::training_age_multipliers`]).
    pub enum TrainingAge {
        Beginner => "beginner",
        Intermediate => "intermediate",
        Advanced => "advanced",
    }
}

impl Default for TrainingAge {
    /// Intermediate is the ×1.0 row, i.e. the tables exactly as published.
    fn default() -> Self {
        TrainingAge::Intermediate
    }
}

named_enum! {
    /// Muscle groups whose weekly set volume is tracked against MEV and MRV.
    pub enum Muscle {
        Quads => "quads",
        Hamstrings => "hamstrings",
        Glutes => "glutes",
        LowerBack => "lower_back",
        UpperBack => "upper_back",
        Chest => "chest",
        Triceps => "triceps",
        Shoulders => "shoulders",
        Biceps => "biceps",
        Core => "core",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for m in Muscle::ALL {
            assert_eq!(Muscle::parse(m.as_str()), Some(*m));
            assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!(m.as_str()));
        }
        assert_eq!(Lift::parse("press"), None);
        assert_eq!(Lift::expected(), "squat, bench or deadlift");
        assert_eq!(Sex::expected(), "male or female");
    }
}
