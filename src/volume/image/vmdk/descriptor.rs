pub fn looks_like_descriptor(b: &[u8]) -> bool {
    b.starts_with(b"# Disk DescriptorFile")
}
