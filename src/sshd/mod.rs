pub mod authorized_keys;
pub mod hostkey;
pub mod strict_modes;
