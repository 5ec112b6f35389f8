//! JSON that round-trips every number Odyssey writes, non-finite ones included.
//!
//! JSON has no literal for NaN or the infinities, and `serde_json` writes them as `null`, which
//! then fails to read back into an `f64`. Odyssey's files (study results, resume files,
//! `report.json`, checkpoint state, `metrics.jsonl`) are written and read through this module,
//! with one documented encoding:
//!
//! | value | JSON |
//! |---|---|
//! | a finite `f64` / `f32` | a number (shortest text that parses back to the same bits) |
//! | NaN | the string `"NaN"` |
//! | +∞ / −∞ | the strings `"Infinity"` / `"-Infinity"` |
//!
//! This is the convention of protobuf's JSON mapping and of Json.NET; Python reads it with
//! `float(x)` on those three strings. When a float is expected, the reader also takes `null`
//! as NaN, so files written before this encoding (which held `null` for any non-finite
//! number) still load.
//!
//! [`to_vec_pretty`], [`to_vec`], [`from_slice`] and [`from_str`] apply the encoding to every
//! float of any `Serialize`/`Deserialize` type, nested ones included, without attributes. Serde
//! buffers the fields of `#[serde(flatten)]` structs and of internally tagged enums before it
//! knows their types, out of reach of that mechanism: mark their float fields with
//! `#[serde(with = "odyssey_core::json::float")]` (or [`float_opt`], [`float_vec`]), which
//! applies the same encoding on its own.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Record { word_ppl: f64, tokens: u64 }
//! let r = Record { word_ppl: f64::INFINITY, tokens: 3 };
//! let text = odyssey_core::json::to_vec(&r)?;
//! assert_eq!(text, br#"{"word_ppl":"Infinity","tokens":3}"#);
//! assert_eq!(odyssey_core::json::from_slice::<Record>(&text)?, r);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde::ser::{self, Serialize, Serializer};
use std::fmt;

/// The JSON text of a non-finite float.
fn non_finite_name(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// The float a string of the encoding stands for.
fn parse_non_finite(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Compact JSON of `value`, non-finite floats encoded as strings.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    value.serialize(Ser(&mut serde_json::Serializer::new(&mut out)))?;
    Ok(out)
}

/// Indented JSON of `value`, non-finite floats encoded as strings.
pub fn to_vec_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    value.serialize(Ser(&mut serde_json::Serializer::pretty(&mut out)))?;
    Ok(out)
}

/// Indented JSON text of `value`, non-finite floats encoded as strings.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    String::from_utf8(to_vec_pretty(value)?).map_err(<serde_json::Error as ser::Error>::custom)
}

/// Read JSON written by [`to_vec`] or [`to_vec_pretty`] (or plain JSON) into `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(De(&mut de))?;
    de.end()?;
    Ok(value)
}

/// Read JSON text written by [`to_vec`] or [`to_vec_pretty`] (or plain JSON) into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    from_slice(text.as_bytes())
}

/// `#[serde(with = "odyssey_core::json::float")]` for an `f64` field: the module's encoding
/// with any serializer, and in places serde buffers (flattened structs, tagged enums).
pub mod float {
    use serde::{Deserializer, Serializer};

    /// Write `v` as a number, or as `"NaN"` / `"Infinity"` / `"-Infinity"`.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(super::non_finite_name(*v))
        }
    }

    /// Read a number, one of the three strings, or `null` (NaN).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(super::FloatVisitor(super::PlainF64))
    }
}

/// `#[serde(with = "odyssey_core::json::float_opt")]` for an `Option<f64>` field: `None` is
/// `null`, a value is written as by [`float`].
pub mod float_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct F(#[serde(with = "super::float")] f64);

    /// Write `None` as `null`, a value as by [`super::float`].
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(F).serialize(s)
    }

    /// Read `null` as `None`, anything else as by [`super::float`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<F>::deserialize(d)?.map(|f| f.0))
    }
}

/// `#[serde(with = "odyssey_core::json::float_vec")]` for a `Vec<f64>` field: each element as
/// by [`float`].
pub mod float_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct F(#[serde(with = "super::float")] f64);

    /// Write each element as by [`super::float`].
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| F(x)))
    }

    /// Read each element as by [`super::float`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<F>::deserialize(d)?.into_iter().map(|f| f.0).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Writing: a serializer that forwards everything to `serde_json`'s, floats aside.

struct Ser<S>(S);

/// A value to be serialized through [`Ser`].
struct Wrap<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Wrap<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Ser(s))
    }
}

/// A compound (sequence, map, struct, ...) whose elements go through [`Ser`].
struct Compound<C>(C);

macro_rules! forward_ser {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            self.0.$method(v)
        }
    )*};
}

impl<S: Serializer> Serializer for Ser<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward_ser!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.0.serialize_f32(v)
        } else {
            self.0.serialize_str(non_finite_name(f64::from(v)))
        }
    }

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.0.serialize_f64(v)
        } else {
            self.0.serialize_str(non_finite_name(v))
        }
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Wrap(v))
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Wrap(v))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Wrap(v))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Compound)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Compound)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Compound)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Compound)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(Compound)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(Compound)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(Compound)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! compound_elements {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
                self.0.$method(&Wrap(v))
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.0.end()
            }
        }
    )*};
}

compound_elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), C::Error> {
        self.0.serialize_key(&Wrap(k))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.0.serialize_value(&Wrap(v))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.0.end()
    }
}

macro_rules! compound_fields {
    ($($trait:ident),* $(,)?) => {$(
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), C::Error> {
                self.0.serialize_field(key, &Wrap(v))
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.0.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.0.end()
            }
        }
    )*};
}

compound_fields!(SerializeStruct, SerializeStructVariant);

// ---------------------------------------------------------------------------------------------
// Reading: a deserializer that forwards everything to `serde_json`'s and wraps every nested
// deserializer, so that wherever a float is expected the three strings (and `null`) are taken.

struct De<D>(D);

/// A visitor whose nested deserializers go through [`De`].
struct Vis<V>(V);

/// A seed whose deserializer goes through [`De`].
struct Seed<S>(S);

/// Sequence, map or enum access whose elements go through [`De`].
struct Access<A>(A);

/// The visitor of a float: numbers as they are, the encoding's strings, `null` as NaN.
struct FloatVisitor<V>(V);

/// The visitor `float::deserialize` hands to [`FloatVisitor`]: yields the `f64`.
struct PlainF64;

impl Visitor<'_> for PlainF64 {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for FloatVisitor<V> {
    type Value = V::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or \"NaN\", \"Infinity\" or \"-Infinity\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        self.0.visit_f64(v)
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<V::Value, E> {
        self.0.visit_f32(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.0.visit_u64(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        self.0.visit_i64(v)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<V::Value, E> {
        self.0.visit_u128(v)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<V::Value, E> {
        self.0.visit_i128(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        match parse_non_finite(v) {
            Some(x) => self.0.visit_f64(x),
            None => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_f64(f64::NAN)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_f64(f64::NAN)
    }
}

macro_rules! forward_de {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
            self.0.$method(Vis(v))
        }
    )*};
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for De<D> {
    type Error = D::Error;

    forward_de!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(FloatVisitor(v))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(FloatVisitor(v))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Vis(v))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Vis(v))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Vis(v))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Vis(v))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Vis(v))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Vis(v))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Vis<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(De(d))
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(De(d))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Access(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Access(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Access(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(De(d))
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<A> {
    type Error = A::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<A> {
    type Error = A::Error;
    type Variant = Access<A::Variant>;
    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Seed(seed))?;
        Ok((value, Access(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<A> {
    type Error = A::Error;
    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Vis(v))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Vis(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    struct Inner {
        a: f64,
        b: Option<f64>,
        c: Vec<f32>,
    }

    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    enum Kind {
        Unit,
        Wrapped(f64),
        Pair(f64, f64),
        Named { x: f64 },
    }

    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    struct Outer {
        inner: Inner,
        map: BTreeMap<String, f64>,
        kinds: Vec<Kind>,
        tuple: (f64, u32),
        text: String,
    }

    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    struct Flat {
        #[serde(with = "float")]
        v: f64,
        #[serde(with = "float_opt")]
        o: Option<f64>,
        #[serde(with = "float_vec")]
        w: Vec<f64>,
    }

    #[derive(Debug, Clone, serde::Serialize, Deserialize)]
    #[serde(tag = "event")]
    enum Tagged {
        Point {
            #[serde(flatten)]
            flat: Flat,
        },
    }

    /// Same value, NaN equal to NaN.
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn outer(v: f64) -> Outer {
        Outer {
            inner: Inner {
                a: v,
                b: Some(-v),
                c: vec![v as f32, 1.5],
            },
            map: [("k".to_string(), v)].into(),
            kinds: vec![
                Kind::Unit,
                Kind::Wrapped(v),
                Kind::Pair(v, 2.0),
                Kind::Named { x: v },
            ],
            tuple: (v, 7),
            text: "NaN".into(),
        }
    }

    fn check(o: &Outer, v: f64) {
        assert!(same(o.inner.a, v) && same(o.inner.b.unwrap_or(0.0), -v));
        assert!(same(o.inner.c[0] as f64, v as f32 as f64) && o.inner.c[1] == 1.5);
        assert!(same(o.map["k"], v) && same(o.tuple.0, v) && o.tuple.1 == 7);
        assert!(matches!(o.kinds[0], Kind::Unit));
        assert!(matches!(o.kinds[1], Kind::Wrapped(x) if same(x, v)));
        assert!(matches!(o.kinds[2], Kind::Pair(x, y) if same(x, v) && y == 2.0));
        assert!(matches!(o.kinds[3], Kind::Named { x } if same(x, v)));
        // A string field holding one of the encoding's words stays a string.
        assert_eq!(o.text, "NaN");
    }

    #[test]
    fn every_float_round_trips_nested_anywhere() {
        for v in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1,
            -0.0,
            1e300,
            f64::MIN_POSITIVE,
        ] {
            for bytes in [
                to_vec(&outer(v)).unwrap(),
                to_vec_pretty(&outer(v)).unwrap(),
            ] {
                let back: Outer = from_slice(&bytes).unwrap();
                check(&back, v);
            }
        }
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        let text =
            String::from_utf8(to_vec(&[f64::NAN, f64::INFINITY, -f64::INFINITY, 2.5]).unwrap())
                .unwrap();
        assert_eq!(text, r#"["NaN","Infinity","-Infinity",2.5]"#);
        // Plain serde_json reads the strings as strings: the file stays valid JSON.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0], "NaN");
    }

    #[test]
    fn null_reads_as_nan_where_a_float_is_expected_and_none_for_options() {
        let i: Inner = from_str(r#"{"a": null, "b": null, "c": [null]}"#).unwrap();
        assert!(i.a.is_nan() && i.b.is_none() && i.c[0].is_nan());
    }

    #[test]
    fn other_strings_are_errors_naming_the_position() {
        let e = from_str::<Inner>(r#"{"a": "inf", "b": 1, "c": []}"#).unwrap_err();
        assert!(e.to_string().contains("inf") && e.line() == 1, "{e}");
    }

    #[test]
    fn flattened_and_tagged_fields_round_trip_with_the_field_modules() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 3.25] {
            let t = Tagged::Point {
                flat: Flat {
                    v,
                    o: Some(v),
                    w: vec![v, 1.0],
                },
            };
            // Through this module and through plain serde_json alike.
            for bytes in [to_vec(&t).unwrap(), serde_json::to_vec(&t).unwrap()] {
                let Tagged::Point { flat } = from_slice::<Tagged>(&bytes).unwrap();
                assert!(same(flat.v, v) && same(flat.o.unwrap_or(0.0), v));
                assert!(same(flat.w[0], v) && flat.w[1] == 1.0);
                let Tagged::Point { flat } = serde_json::from_slice::<Tagged>(&bytes).unwrap();
                assert!(same(flat.v, v));
            }
        }
        let none: Flat = from_str(r#"{"v": 1, "o": null, "w": []}"#).unwrap();
        assert!(none.o.is_none());
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        assert!(from_str::<f64>("1.0 x").is_err());
        assert!(same(
            from_str::<f64>("\"-Infinity\"").unwrap(),
            f64::NEG_INFINITY
        ));
    }
}
