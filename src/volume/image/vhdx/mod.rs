//! placeholder
use super::{ImageError, ImageInfo, Opener};
use crate::volume::source::BlockSource;
use std::sync::Arc;
pub fn open(
    _file: Arc<dyn BlockSource>,
    _opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    Err(ImageError::unsupported("vhdx", "todo"))
}
