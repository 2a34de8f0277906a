"""Reading and validating world directories, and turning them into training and probe data."""
