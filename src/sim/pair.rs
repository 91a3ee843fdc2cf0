//! Lists of exactly two, for serde: `between = ["a", "b"]`, `pairs =
//! [["a", "b"], ...]` and `[low, high]` ranges.
//!
//! serde's impl for `[T; 2]` reads the first two items of a longer list
//! and ignores the rest, so `between = ["a", "b", "c"]` would lose `"c"`
//! without a word. These read the whole list and refuse any other length.

use serde::de::{Deserialize, Deserializer, Error};

/// A field `Option<[T; 2]>` that must hold exactly two items when given.
pub fn option<'de, D, T>(d: D) -> Result<Option<[T; 2]>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<T>>::deserialize(d)?
        .map(exactly_two::<D::Error, T>)
        .transpose()
}

/// A field `[T; 2]` that must hold exactly two items.
pub fn exact<'de, D, T>(d: D) -> Result<[T; 2], D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    exactly_two::<D::Error, T>(Vec::<T>::deserialize(d)?)
}

/// A field `Option<Vec<[T; 2]>>` whose every item holds exactly two.
pub fn option_list<'de, D, T>(d: D) -> Result<Option<Vec<[T; 2]>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<Vec<T>>>::deserialize(d)?
        .map(|list| list.into_iter().map(exactly_two::<D::Error, T>).collect())
        .transpose()
}

fn exactly_two<E: Error, T>(items: Vec<T>) -> Result<[T; 2], E> {
    let n = items.len();
    <[T; 2]>::try_from(items)
        .map_err(|_| E::custom(format!("expected a list of exactly 2 items, found {n}")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "super::option")]
        between: Option<[String; 2]>,
        #[serde(default, deserialize_with = "super::option_list")]
        pairs: Option<Vec<[String; 2]>>,
    }

    #[test]
    fn two_items_are_read_and_absent_is_none() {
        let p: Probe =
            toml::from_str("between = [\"a\", \"b\"]\npairs = [[\"c\", \"d\"]]").unwrap();
        assert_eq!(p.between, Some(["a".to_string(), "b".to_string()]));
        assert_eq!(p.pairs.unwrap().len(), 1);
        let p: Probe = toml::from_str("").unwrap();
        assert!(p.between.is_none() && p.pairs.is_none());
    }

    #[test]
    fn three_or_one_items_are_refused_not_truncated() {
        for text in [
            "between = [\"a\", \"b\", \"c\"]",
            "between = [\"a\"]",
            "pairs = [[\"a\", \"b\"], [\"c\", \"d\", \"e\"]]",
        ] {
            let err = toml::from_str::<Probe>(text).unwrap_err();
            assert!(err.message().contains("exactly 2"), "{text}: {err}");
        }
    }
}
