//! arrfile: placeholder, filled below.
