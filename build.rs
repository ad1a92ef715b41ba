// The profiles and templates are embedded with include_dir!, which cargo does not track:
// rebuild when a file in them is added, removed or changed.
fn main() {
    println!("cargo:rerun-if-changed=profiles");
    println!("cargo:rerun-if-changed=templates");
    println!("cargo:rerun-if-changed=build.rs");
}
