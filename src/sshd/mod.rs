pub mod authorized_keys;
pub mod config;
pub mod hostkey;
pub mod strict_modes;
