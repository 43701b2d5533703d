//! GPU discovery, selection, injection and CDI (see the GPU hook issue).
