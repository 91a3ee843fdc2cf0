//! Structural tests of the HTML writer.
