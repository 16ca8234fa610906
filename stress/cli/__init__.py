"""The command line. argparse lives here and nowhere else in the package."""
