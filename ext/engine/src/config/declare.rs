//! `settings!`: turns the table of settings in `config/mod.rs` (one entry per setting: its
//! doc comment, which is also its reference text; optionally `#[also_env = "NAME"]`, another
//! environment variable it is read from, and `#[ruby_only = true]`, a setting only the Ruby
//! side uses; then name, type, default and kind) into
//! the `Config` struct, its `Default`, the `SETTINGS` reference and the code that applies a
//! value to one field and renders them all. The expansion names items of the module that
//! invokes it (`Setting`, `kinds`, `Value`, `Map`) without a path.

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $(#[also_env = $alias:literal])?
        $(#[ruby_only = $ruby_only:literal])?
        $name:ident: $ty:ty = $default:expr, $kind:expr;
    )*) => {
        /// The validated settings of one server: every field is one of [`SETTINGS`].
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $( $(#[doc = $doc])+ pub $name: $ty, )*
        }

        impl Default for Config {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        /// Every setting, in the order the docs list them.
        pub const SETTINGS: &[Setting] = &[$(
            Setting {
                key: stringify!($name),
                text: concat!($($doc),+),
                secret: kinds::is_secret(&$kind),
                also_env: settings!(@alias $($alias)?),
                ruby_only: settings!(@ruby_only $($ruby_only)?),
            },
        )*];

        impl Config {
            /// Sets the field of `key` from `value` (`null`: its default); `Err` says what the
            /// setting accepts.
            fn apply(&mut self, key: &str, value: &Value) -> Result<(), String> {
                match key {
                    $(stringify!($name) => {
                        let parsed = if value.is_null() { None } else { kinds::Kind::parse(&$kind, value)? };
                        self.$name = parsed.unwrap_or_else(|| $default);
                    })*
                    _ => unreachable!("apply is only called with a key of SETTINGS"),
                }
                Ok(())
            }

            /// Every setting's value as it shows in the effective settings.
            fn render_all(&self) -> Map<String, Value> {
                let mut map = Map::new();
                $( map.insert(stringify!($name).into(), kinds::Kind::render(&$kind, &self.$name)); )*
                map
            }
        }
    };
    (@alias) => { None };
    (@alias $alias:literal) => { Some($alias) };
    (@ruby_only) => { false };
    (@ruby_only $ruby_only:literal) => { $ruby_only };
}
