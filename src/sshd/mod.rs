pub mod hostkey;
