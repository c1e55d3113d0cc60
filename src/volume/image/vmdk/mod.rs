//! placeholder
pub mod descriptor;
use super::{ImageError, ImageInfo, Opener};
use crate::volume::source::BlockSource;
use std::sync::Arc;
pub fn open_sparse(
    _file: Arc<dyn BlockSource>,
    _opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    Err(ImageError::unsupported("vmdk", "todo"))
}
pub fn open_descriptor(
    _file: Arc<dyn BlockSource>,
    _opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    Err(ImageError::unsupported("vmdk", "todo"))
}
