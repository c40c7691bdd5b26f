#![no_main]

use dagrun::workflow::load::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dagrun_fuzz::workflow(data, Format::Yaml));
