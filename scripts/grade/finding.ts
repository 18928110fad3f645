// What grading found in one archive: a sentence for the instructor, and whether it means the archive
// could not be verified (a figure that does not match, a record that contradicts itself) or is only
// worth knowing (the checks were not run again).
export interface Finding {
  text: string;
  fails: boolean;
}
